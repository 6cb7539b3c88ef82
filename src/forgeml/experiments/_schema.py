"""Tables of experiments and runs (SQLAlchemy Core), created by the ``0002_experiments`` migration.

Runs keep their parameters, tags and the latest value of each metric in narrow key/value tables
indexed by ``(key, value)``, so a filter such as ``metrics.validation:auc > 0.8`` is an index range
scan rather than a pass over JSON documents. Full metric series stay in the core ``metrics`` table,
owned by the run (``run/EXPERIMENT/RUN``) or by the job the run records (``job/NAME``).
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

experiments = sa.Table(
    "experiments",
    metadata,
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

runs = sa.Table(
    "exp_runs",
    metadata,
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
sa.Index("ix_exp_runs_source", runs.c.source)
sa.Index("ix_exp_runs_created_at", runs.c.created_at)

run_params = sa.Table(
    "exp_run_params",
    metadata,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("exp_runs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("value_num", sa.Float),
)
sa.Index("ix_exp_run_params_key_num", run_params.c.key, run_params.c.value_num, run_params.c.run_id)

run_metrics = sa.Table(
    "exp_run_metrics",
    metadata,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("exp_runs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("step", sa.Integer, nullable=False),
    sa.Column("timestamp", sa.Float, nullable=False),
)
sa.Index("ix_exp_run_metrics_key_value", run_metrics.c.key, run_metrics.c.value, run_metrics.c.run_id)

run_tags = sa.Table(
    "exp_run_tags",
    metadata,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("exp_runs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

__all__ = ["experiments", "metadata", "run_metrics", "run_params", "run_tags", "runs"]
