"""Alembic environment: migrations run programmatically on the connection the store hands in."""

from __future__ import annotations

from alembic import context

from forgeml.core.metadata._schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # `alembic` command line, used only to autogenerate new revisions
    import sqlalchemy as sa

    url = context.config.get_main_option("sqlalchemy.url") or "sqlite://"
    with sa.create_engine(url).connect() as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    context.run_migrations()
