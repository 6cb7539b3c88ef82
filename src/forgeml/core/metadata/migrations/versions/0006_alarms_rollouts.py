"""metric datapoints (owned by forgeml.alarms._metrics); alarms and deployments are resources

Revision ID: 0006_alarms_rollouts
Revises: 0001_core
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_alarms_rollouts"
down_revision = "0001_core"
branch_labels = ("alarms",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "metric_points",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("namespace", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("dimensions", sa.String(1024), nullable=False),
        sa.Column("timestamp", sa.Float, nullable=False),
        sa.Column("count", sa.Float, nullable=False),
        sa.Column("sum", sa.Float, nullable=False),
        sa.Column("minimum", sa.Float, nullable=False),
        sa.Column("maximum", sa.Float, nullable=False),
        sa.Column("samples", sa.JSON),
    )
    op.create_index(
        "ix_metric_points_series", "metric_points", ["namespace", "name", "dimensions", "timestamp"]
    )


def downgrade() -> None:
    op.drop_index("ix_metric_points_series", "metric_points")
    op.drop_table("metric_points")
