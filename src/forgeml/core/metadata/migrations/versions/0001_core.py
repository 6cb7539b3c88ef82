"""core tables

Revision ID: 0001_core
Revises:
Create Date: 2026-11-29 17:06:42.953349
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001_core'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('artifact_refs',
    sa.Column('digest', sa.String(length=80), nullable=False),
    sa.Column('owner', sa.String(length=512), nullable=False),
    sa.PrimaryKeyConstraint('digest', 'owner')
    )
    with op.batch_alter_table('artifact_refs', schema=None) as batch_op:
        batch_op.create_index('ix_artifact_refs_owner', ['owner'], unique=False)

    op.create_table('artifacts',
    sa.Column('digest', sa.String(length=80), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('media_type', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('digest')
    )
    op.create_table('events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('time', sa.Float(), nullable=False),
    sa.Column('resource', sa.String(length=512), nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_resource', ['resource'], unique=False)

    op.create_table('jobs',
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('secondary_status', sa.String(length=64), nullable=True),
    sa.Column('failure_reason', sa.Text(), nullable=True),
    sa.Column('config', sa.JSON(), nullable=False),
    sa.Column('entrypoint', sa.String(length=255), nullable=False),
    sa.Column('backend', sa.String(length=32), nullable=False),
    sa.Column('handle', sa.JSON(), nullable=False),
    sa.Column('inputs', sa.JSON(), nullable=False),
    sa.Column('outputs', sa.JSON(), nullable=False),
    sa.Column('exit_code', sa.Integer(), nullable=True),
    sa.Column('max_runtime_seconds', sa.Float(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('resumable', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.Float(), nullable=False),
    sa.Column('started_at', sa.Float(), nullable=True),
    sa.Column('ended_at', sa.Float(), nullable=True),
    sa.Column('updated_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.create_index('ix_jobs_created_at', ['created_at'], unique=False)
        batch_op.create_index('ix_jobs_kind_status', ['kind', 'status'], unique=False)

    op.create_table('lineage_edges',
    sa.Column('src', sa.String(length=512), nullable=False),
    sa.Column('dst', sa.String(length=512), nullable=False),
    sa.Column('relation', sa.String(length=64), nullable=False),
    sa.Column('job', sa.String(length=255), nullable=True),
    sa.Column('created_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('src', 'dst', 'relation')
    )
    with op.batch_alter_table('lineage_edges', schema=None) as batch_op:
        batch_op.create_index('ix_lineage_dst', ['dst'], unique=False)

    op.create_table('metrics',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('owner', sa.String(length=512), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('timestamp', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('metrics', schema=None) as batch_op:
        batch_op.create_index('ix_metrics_key_value', ['key', 'value'], unique=False)
        batch_op.create_index('ix_metrics_owner_key', ['owner', 'key', 'step'], unique=False)

    op.create_table('resources',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=64), nullable=False),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.Float(), nullable=False),
    sa.Column('updated_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('kind', 'name', 'version', name='uq_resources_kind_name_version')
    )
    with op.batch_alter_table('resources', schema=None) as batch_op:
        batch_op.create_index('ix_resources_kind_status', ['kind', 'status'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('resources', schema=None) as batch_op:
        batch_op.drop_index('ix_resources_kind_status')

    op.drop_table('resources')
    with op.batch_alter_table('metrics', schema=None) as batch_op:
        batch_op.drop_index('ix_metrics_owner_key')
        batch_op.drop_index('ix_metrics_key_value')

    op.drop_table('metrics')
    with op.batch_alter_table('lineage_edges', schema=None) as batch_op:
        batch_op.drop_index('ix_lineage_dst')

    op.drop_table('lineage_edges')
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_jobs_kind_status')
        batch_op.drop_index('ix_jobs_created_at')

    op.drop_table('jobs')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_resource')

    op.drop_table('events')
    op.drop_table('artifacts')
    with op.batch_alter_table('artifact_refs', schema=None) as batch_op:
        batch_op.drop_index('ix_artifact_refs_owner')

    op.drop_table('artifact_refs')

