"""claims of monitoring-schedule windows (owned by forgeml.monitoring._scheduler)

Revision ID: 0008_monitor_schedules
Revises: 0001_core
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_monitor_schedules"
down_revision = "0001_core"
branch_labels = ("monitor_schedules",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "monitor_schedule_runs",
        sa.Column("schedule", sa.String(255), primary_key=True),
        sa.Column("fire_time", sa.Float, primary_key=True),
        sa.Column("window_start", sa.Float, nullable=False),
        sa.Column("window_end", sa.Float, nullable=False),
        sa.Column("job", sa.String(255), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("claimed_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("monitor_schedule_runs")
