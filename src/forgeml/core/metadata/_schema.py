"""SQL tables of the metadata store (SQLAlchemy Core). Alembic migrations create them."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

resources = sa.Table(
    "resources",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("status", sa.String(64), nullable=False),
    sa.Column("spec", sa.JSON, nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.UniqueConstraint("kind", "name", "version", name="uq_resources_kind_name_version"),
)
sa.Index("ix_resources_kind_status", resources.c.kind, resources.c.status)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("secondary_status", sa.String(64)),
    sa.Column("failure_reason", sa.Text),
    sa.Column("config", sa.JSON, nullable=False),
    sa.Column("entrypoint", sa.String(255), nullable=False),
    sa.Column("backend", sa.String(32), nullable=False),
    sa.Column("handle", sa.JSON, nullable=False),
    sa.Column("inputs", sa.JSON, nullable=False),
    sa.Column("outputs", sa.JSON, nullable=False),
    sa.Column("exit_code", sa.Integer),
    sa.Column("max_runtime_seconds", sa.Float),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("resumable", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("started_at", sa.Float),
    sa.Column("ended_at", sa.Float),
    sa.Column("updated_at", sa.Float, nullable=False),
)
sa.Index("ix_jobs_kind_status", jobs.c.kind, jobs.c.status)
sa.Index("ix_jobs_created_at", jobs.c.created_at)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("time", sa.Float, nullable=False),
    sa.Column("resource", sa.String(512), nullable=False),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
)
sa.Index("ix_events_resource", events.c.resource)

artifacts = sa.Table(
    "artifacts",
    metadata,
    sa.Column("digest", sa.String(80), primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("media_type", sa.String(128), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

artifact_refs = sa.Table(
    "artifact_refs",
    metadata,
    sa.Column("digest", sa.String(80), primary_key=True),
    sa.Column("owner", sa.String(512), primary_key=True),
)
sa.Index("ix_artifact_refs_owner", artifact_refs.c.owner)

edges = sa.Table(
    "lineage_edges",
    metadata,
    sa.Column("src", sa.String(512), primary_key=True),
    sa.Column("dst", sa.String(512), primary_key=True),
    sa.Column("relation", sa.String(64), primary_key=True),
    sa.Column("job", sa.String(255)),
    sa.Column("created_at", sa.Float, nullable=False),
)
sa.Index("ix_lineage_dst", edges.c.dst)

metrics = sa.Table(
    "metrics",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("owner", sa.String(512), nullable=False),
    sa.Column("key", sa.String(255), nullable=False),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("step", sa.Integer, nullable=False),
    sa.Column("timestamp", sa.Float, nullable=False),
)
sa.Index("ix_metrics_owner_key", metrics.c.owner, metrics.c.key, metrics.c.step)
sa.Index("ix_metrics_key_value", metrics.c.key, metrics.c.value)

# pipelines (migration 0009_pipelines; used by forgeml.pipelines._store)
pipeline_executions = sa.Table(
    "pipeline_executions",
    metadata,
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
sa.Index("ix_pipeline_executions_status", pipeline_executions.c.status)
sa.Index("ix_pipeline_executions_pipeline", pipeline_executions.c.pipeline, pipeline_executions.c.created_at)

pipeline_steps = sa.Table(
    "pipeline_steps",
    metadata,
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
sa.Index("ix_pipeline_steps_cache", pipeline_steps.c.step, pipeline_steps.c.cache_key)
sa.Index("ix_pipeline_steps_token", pipeline_steps.c.token)
