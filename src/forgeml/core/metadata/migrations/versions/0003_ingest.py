"""idempotency keys and the HTTP record buffer (owned by forgeml.core.idempotency and forgeml.data)

Revision ID: 0003_ingest
Revises: 0001_core
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_ingest"
down_revision = "0001_core"
branch_labels = ("ingest",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("operation", sa.String(64), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("response", sa.JSON),
        sa.Column("resource", sa.String(512)),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("claimed_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_index("ix_idempotency_keys_expires_at", "idempotency_keys", ["expires_at"])
    op.create_table(
        "record_buffer",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dataset", sa.String(255), nullable=False),
        sa.Column("lines", sa.Text, nullable=False),
        sa.Column("records", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_record_buffer_dataset", "record_buffer", ["dataset", "id"])


def downgrade() -> None:
    op.drop_index("ix_record_buffer_dataset", "record_buffer")
    op.drop_table("record_buffer")
    op.drop_index("ix_idempotency_keys_expires_at", "idempotency_keys")
    op.drop_table("idempotency_keys")
