"""Schema migrations for the application database (Alembic, revisions in ./migrations).

`prepare` runs when a process opens its database (storage.database.get_engine):
- a database with none of our tables is created from the models and stamped at head
  (Alembic's documented way to build a new database). Running every revision instead
  gives the same schema (tests/storage/test_migrations.py proves the revisions and the models
  agree) at a cost that grows with each revision: measured on SQLite, 15 ms per fresh
  database this way against 32 ms for the two revisions of today (create_all alone, as
  before migrations: 12 ms), and the test suite makes hundreds of databases;
- a database made by `create_all` before Alembic (our tables, no alembic_version) is
  adopted: revision 0001 only creates what is missing (IF NOT EXISTS), so it ends at 0001
  with every row in place, then the newer revisions run;
- otherwise, it is upgraded to head when behind.

Several processes may start at once. PostgreSQL: a session advisory lock serialises
them (the second waits, then finds the schema current). SQLite (one host): the whole
check-and-migrate runs in one BEGIN IMMEDIATE transaction, SQLite's own write lock, with
DDL made transactional, so a batch ALTER (copy, drop, rename) is all or nothing.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.pool import ConnectionPoolEntry, NullPool
from sqlmodel import SQLModel, create_engine

from relance.storage import tables  # noqa: F401  (registers the tables)

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
VERSION_TABLE = "alembic_version"
# pg_advisory_lock key: "RELANCE" in ASCII, so it is recognisable in pg_locks.
ADVISORY_LOCK_KEY = int.from_bytes(b"RELANCE", "big")
# A process waiting for another one's SQLite migration waits this long (seconds).
SQLITE_MIGRATION_WAIT = 600
_WRITE = "relance_migration_write"


class SchemaError(RuntimeError):
    """The database's schema is not the one this Relance needs, and it will not fix it."""


@dataclass(frozen=True)
class SchemaState:
    kind: str  # "empty" | "legacy" (create_all, no alembic_version) | "versioned"
    current: tuple[str, ...]  # revisions stamped in the database
    heads: tuple[str, ...]  # revisions this code ships

    @property
    def at_head(self) -> bool:
        return self.kind == "versioned" and set(self.current) == set(self.heads)

    def describe(self) -> str:
        if self.kind == "empty":
            return "empty (no Relance tables)"
        if self.kind == "legacy":
            return "created before migrations (no alembic_version table): will be adopted at 0001"
        marks = ", ".join(f"{r} (head)" if r in self.heads else r for r in self.current) or "none"
        return marks if self.at_head else f"{marks}; head is {', '.join(self.heads)}"


def compare_options(dialect: str) -> dict[str, Any]:
    """Autogenerate's options: types compared, and objects built for another dialect only
    (`ddl_if`, e.g. the PostgreSQL trigram index) left out, since Alembic ignores ddl_if."""

    def include_object(obj: object, _name: str | None, _type: str, _reflected: bool, _compare_to: object) -> bool:
        only = getattr(obj, "_ddl_if", None)
        return only is None or only.dialect is None or only.dialect == dialect

    return {"compare_type": True, "include_object": include_object}


def alembic_config(connection: Connection | None = None) -> AlembicConfig:
    """Programmatic configuration: the revisions ship inside the package."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


@lru_cache(maxsize=1)
def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revisions() -> tuple[str, ...]:
    return tuple(script_directory().get_heads())


def _sqlite_connect(  # pragma: no cover - driver callback
    dbapi_conn: sqlite3.Connection, _record: ConnectionPoolEntry
) -> None:
    # The driver's own transaction handling skips DDL; we emit BEGIN ourselves (below).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:  # pragma: no cover - driver callback
    # IMMEDIATE takes the write lock now: a second process waits here, not mid-migration.
    # Reads (`relance db current`) take no lock.
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN")


def migration_engine(url: str) -> Engine:
    """A short-lived engine for migrating (NullPool: closing a connection ends its
    PostgreSQL session, and with it the advisory lock)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, poolclass=NullPool, connect_args={"check_same_thread": False, "timeout": SQLITE_MIGRATION_WAIT}
        )
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, poolclass=NullPool)


def repository_database_url() -> str:
    """The database the `alembic` command (developers, alembic.ini) works on."""
    from relance.platform.config import get_config

    return get_config().resolved_database_url()


def schema_state(conn: Connection) -> SchemaState:
    names = set(inspect(conn).get_table_names())
    heads = head_revisions()
    if VERSION_TABLE in names:
        return SchemaState("versioned", MigrationContext.configure(conn).get_current_heads(), heads)
    # Other applications' tables (a shared PostgreSQL schema) do not make it ours.
    kind = "legacy" if names & set(SQLModel.metadata.tables) else "empty"
    return SchemaState(kind, (), heads)


@contextmanager
def _locked(engine: Engine) -> Iterator[Connection]:
    """A connection inside one transaction, held by one process at a time."""
    with engine.connect().execution_options(**{_WRITE: True}) as conn:
        if conn.dialect.name != "postgresql":
            with conn.begin():  # SQLite: BEGIN IMMEDIATE (see _sqlite_begin)
                yield conn
            return
        # Session-level, not transaction-level: it survives a revision that commits
        # early (autocommit_block, e.g. CREATE INDEX CONCURRENTLY).
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        conn.commit()
        try:
            with conn.begin():
                yield conn
        finally:
            if not conn.invalidated:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY})
                conn.commit()


def _check_known(state: SchemaState) -> None:
    unknown = [r for r in state.current if not _known(r)]
    if unknown:
        raise SchemaError(
            f"the database is at revision {', '.join(unknown)}, which this Relance does not know "
            f"(its newest is {', '.join(state.heads)}): run the newer Relance, or downgrade the database with it"
        )


def _known(revision: str) -> bool:
    try:
        return script_directory().get_revision(revision) is not None
    except CommandError:  # "No such revision"
        return False


def _run_upgrade(conn: Connection, state: SchemaState, revision: str) -> None:
    if state.kind == "legacy":
        log.warning("database created before migrations: adopting it at revision 0001, rows untouched")
    command.upgrade(alembic_config(conn), revision)
    if state.kind == "legacy" and revision == "heads":
        # Adoption adds what is missing but changes no existing column: say if one differs
        # (e.g. PostgreSQL timestamps made naive by SQLModel < 0.0.45).
        diffs = compare_metadata(
            MigrationContext.configure(conn, opts=compare_options(conn.dialect.name)), SQLModel.metadata
        )
        if diffs:
            log.warning("adopted database differs from the models; review before relying on it: %s", diffs)


def prepare(url: str, *, auto_migrate: bool = True) -> SchemaState:
    """Bring the database to head (or, with auto_migrate off, insist that it is there).
    Returns the state found before anything was done."""
    engine = migration_engine(url)
    try:
        # Usually the schema is current: a plain read, no lock to queue behind.
        with engine.connect() as conn:
            state = schema_state(conn)
        if state.at_head:
            return state
        _check_known(state)
        if not auto_migrate:
            raise SchemaError(
                f"database schema is {state.describe()}; RELANCE_DB_AUTO_MIGRATE is off: run `relance db upgrade` first"
            )
        with _locked(engine) as conn:
            state = schema_state(conn)  # again: another process may have just migrated
            if state.kind == "empty":
                SQLModel.metadata.create_all(conn)
                MigrationContext.configure(conn).stamp(script_directory(), "heads")
                log.info("created the database schema at %s", ", ".join(state.heads))
            elif not state.at_head:
                _check_known(state)
                _run_upgrade(conn, state, "heads")
            return state
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "heads") -> tuple[SchemaState, SchemaState]:
    """Run the revisions up to `revision` (every one of them, even on an empty database).
    Returns the states before and after."""
    engine = migration_engine(url)
    try:
        with _locked(engine) as conn:
            before = schema_state(conn)
            _check_known(before)
            _run_upgrade(conn, before, revision)
            return before, schema_state(conn)
    finally:
        engine.dispose()


def downgrade(url: str, revision: str) -> tuple[SchemaState, SchemaState]:
    engine = migration_engine(url)
    try:
        with _locked(engine) as conn:
            before = schema_state(conn)
            if before.kind != "versioned":
                raise SchemaError(f"cannot downgrade: database is {before.describe()}")
            command.downgrade(alembic_config(conn), revision)
            return before, schema_state(conn)
    finally:
        engine.dispose()


def current(url: str) -> SchemaState:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and not Path(parsed.database).exists():
        return SchemaState("empty", (), head_revisions())  # and do not create the file
    engine = migration_engine(url)
    try:
        with engine.connect() as conn:
            return schema_state(conn)
    finally:
        engine.dispose()


def history() -> list[tuple[str, str | None, str, bool]]:
    """(revision, down_revision, message, is_head), oldest first."""
    script = script_directory()
    heads = set(script.get_heads())
    rows = [
        (
            s.revision,
            s.down_revision
            if isinstance(s.down_revision, str) or s.down_revision is None
            else ", ".join(s.down_revision),
            s.doc or "",
            s.revision in heads,
        )
        for s in script.walk_revisions()
    ]
    return list(reversed(rows))
