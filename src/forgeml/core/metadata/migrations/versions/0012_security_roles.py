"""groups, group members, roles and role sessions (owned by forgeml.security._roles)

Revision ID: 0012_security_roles
Revises: 0001_core
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_security_roles"
down_revision = "0001_core"
branch_labels = ("security_roles",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "security_groups",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("policies", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "security_group_members",
        sa.Column("group_name", sa.String(128), primary_key=True),
        sa.Column("principal", sa.String(128), primary_key=True),
    )
    op.create_index("ix_security_group_members_principal", "security_group_members", ["principal"])
    op.create_table(
        "security_roles",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("policies", sa.JSON, nullable=False),
        sa.Column("trust", sa.JSON, nullable=False),
        sa.Column("max_session_seconds", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "security_sessions",
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("role", sa.String(128), nullable=False),
        sa.Column("session_name", sa.String(64), nullable=False),
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("salt", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(128), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("security_sessions")
    op.drop_table("security_roles")
    op.drop_index("ix_security_group_members_principal", "security_group_members")
    op.drop_table("security_group_members")
    op.drop_table("security_groups")
