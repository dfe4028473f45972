"""Alembic's environment: runs on the connection relance.storage.migrate hands over
(`config.attributes["connection"]`), or, for developers running the `alembic` command
from the repository (alembic.ini), on RELANCE_DATABASE_URL / the embedded SQLite file."""

from __future__ import annotations

import logging.config

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from relance.storage import tables  # noqa: F401  (registers every table on the metadata)
from relance.storage.migrate import compare_options

target_metadata = SQLModel.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things: batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        **compare_options(connection.dialect.name),
        # Each revision commits with its own version bump, so a failure leaves the
        # database at the last good revision (and a revision may use autocommit_block).
        # Inside relance.storage.migrate's outer transaction this is one transaction.
        transaction_per_migration=True,
    )


def run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    # The `alembic` command line (developers): its logging, our own engine.
    from relance.storage.migrate import migration_engine, repository_database_url

    if context.config.config_file_name:
        logging.config.fileConfig(context.config.config_file_name)

    engine = migration_engine(repository_database_url())
    try:
        with engine.connect() as conn:
            _configure(conn)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported: run them against a database")
run()
