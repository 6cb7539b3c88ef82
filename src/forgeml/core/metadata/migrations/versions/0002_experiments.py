"""experiments and runs (owned by forgeml.experiments)

Revision ID: 0002_experiments
Revises: 0001_core
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_experiments"
down_revision = "0001_core"
branch_labels = ("experiments",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "exp_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("experiment", sa.String(255), sa.ForeignKey("experiments.name", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("source", sa.String(512)),
        sa.Column("metrics_owner", sa.String(512), nullable=False),
        sa.Column("artifacts", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("ended_at", sa.Float),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.UniqueConstraint("experiment", "name", name="uq_exp_runs_experiment_name"),
    )
    op.create_index("ix_exp_runs_source", "exp_runs", ["source"])
    op.create_index("ix_exp_runs_created_at", "exp_runs", ["created_at"])
    op.create_table(
        "exp_run_params",
        sa.Column("run_id", sa.Integer, sa.ForeignKey("exp_runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("value_num", sa.Float),
    )
    op.create_index("ix_exp_run_params_key_num", "exp_run_params", ["key", "value_num", "run_id"])
    op.create_table(
        "exp_run_metrics",
        sa.Column("run_id", sa.Integer, sa.ForeignKey("exp_runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("timestamp", sa.Float, nullable=False),
    )
    op.create_index("ix_exp_run_metrics_key_value", "exp_run_metrics", ["key", "value", "run_id"])
    op.create_table(
        "exp_run_tags",
        sa.Column("run_id", sa.Integer, sa.ForeignKey("exp_runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("exp_run_tags")
    op.drop_index("ix_exp_run_metrics_key_value", "exp_run_metrics")
    op.drop_table("exp_run_metrics")
    op.drop_index("ix_exp_run_params_key_num", "exp_run_params")
    op.drop_table("exp_run_params")
    op.drop_index("ix_exp_runs_created_at", "exp_runs")
    op.drop_index("ix_exp_runs_source", "exp_runs")
    op.drop_table("exp_runs")
    op.drop_table("experiments")
