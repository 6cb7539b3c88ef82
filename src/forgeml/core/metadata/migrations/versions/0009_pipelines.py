"""pipeline executions and their steps (owned by forgeml.pipelines._store); definitions are resources

Revision ID: 0009_pipelines
Revises: 0001_core
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_pipelines"
down_revision = "0001_core"
branch_labels = ("pipelines",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pipeline_executions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("pipeline", sa.String(255), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("parameters", sa.JSON, nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("max_parallel", sa.Integer),
        sa.Column("display_name", sa.String(255)),
        sa.Column("failure_reason", sa.Text),
        sa.Column("owner", sa.String(255)),
        sa.Column("beat", sa.Float),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("ended_at", sa.Float),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_pipeline_executions_status", "pipeline_executions", ["status"])
    op.create_index("ix_pipeline_executions_pipeline", "pipeline_executions", ["pipeline", "created_at"])
    op.create_table(
        "pipeline_steps",
        sa.Column("execution", sa.String(32), primary_key=True),
        sa.Column("step", sa.String(64), primary_key=True),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("job", sa.String(255)),
        sa.Column("next_at", sa.Float),
        sa.Column("first_started_at", sa.Float),
        sa.Column("started_at", sa.Float),
        sa.Column("ended_at", sa.Float),
        sa.Column("properties", sa.JSON, nullable=False),
        sa.Column("failure_reason", sa.Text),
        sa.Column("cache_key", sa.String(80)),
        sa.Column("cache_hit", sa.JSON),
        sa.Column("token", sa.String(64)),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_pipeline_steps_cache", "pipeline_steps", ["step", "cache_key"])
    op.create_index("ix_pipeline_steps_token", "pipeline_steps", ["token"])


def downgrade() -> None:
    op.drop_table("pipeline_steps")
    op.drop_table("pipeline_executions")
