"""event-rule and schedule firings and cursors (owned by forgeml.rules._store)

Revision ID: 0010_rules
Revises: 0001_core
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_rules"
down_revision = "0001_core"
branch_labels = ("rules",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rule_cursors",
        sa.Column("source", sa.String(255), primary_key=True),
        sa.Column("after_id", sa.Integer, nullable=False),
        sa.Column("after_time", sa.Float),
    )
    op.create_table(
        "rule_firings",
        sa.Column("source", sa.String(255), primary_key=True),
        sa.Column("event_key", sa.String(64), primary_key=True),
        sa.Column("target", sa.Integer, primary_key=True),
        sa.Column("event_id", sa.Integer),
        sa.Column("target_type", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("claimed_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float),
        sa.Column("outcome", sa.JSON),
    )
    op.create_index("ix_rule_firings_state", "rule_firings", ["state"])


def downgrade() -> None:
    op.drop_index("ix_rule_firings_state", "rule_firings")
    op.drop_table("rule_firings")
    op.drop_table("rule_cursors")
