"""autoscaling: scalable targets, policies, scheduled actions, activities (owned by forgeml.serving._scaling_store)

Revision ID: 0011_autoscaling
Revises: 0001_core
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_autoscaling"
down_revision = "0001_core"
branch_labels = ("autoscaling",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scaling_targets",
        sa.Column("resource_id", sa.String(160), primary_key=True),
        sa.Column("endpoint", sa.String(64), nullable=False),
        sa.Column("variant", sa.String(64), nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "scaling_policies",
        sa.Column("resource_id", sa.String(160), primary_key=True),
        sa.Column("name", sa.String(256), primary_key=True),
        sa.Column("policy_type", sa.String(32), nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "scaling_scheduled_actions",
        sa.Column("resource_id", sa.String(160), primary_key=True),
        sa.Column("name", sa.String(256), primary_key=True),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("last_fire", sa.Float),
    )
    op.create_table(
        "scaling_activities",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("activity_id", sa.String(64), nullable=False, unique=True),
        sa.Column("resource_id", sa.String(160), nullable=False),
        sa.Column("key", sa.String(400), unique=True),
        sa.Column("cause", sa.String(1024), nullable=False),
        sa.Column("policy", sa.String(256)),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("from_capacity", sa.Integer, nullable=False),
        sa.Column("to_capacity", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("message", sa.String(1024)),
        sa.Column("detail", sa.JSON),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("ended_at", sa.Float),
    )
    op.create_index("ix_scaling_activities_target", "scaling_activities", ["resource_id", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_scaling_activities_target", "scaling_activities")
    op.drop_table("scaling_activities")
    op.drop_table("scaling_scheduled_actions")
    op.drop_table("scaling_policies")
    op.drop_table("scaling_targets")
