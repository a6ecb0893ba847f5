"""Alembic environment: runs on the connection ``Database.migrate`` passes in, or on a URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from tidegate.db.tables import metadata

config = context.config
connection = config.attributes.get("connection")

if connection is not None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    url = config.get_main_option("sqlalchemy.url")
    assert url, "set sqlalchemy.url"
    with create_engine(url).connect() as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
