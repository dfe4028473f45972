"""Engines and sessions. SQLite (the embedded default) gets WAL and a busy timeout so
activity threads and the CLI can share it; PostgreSQL is used as given. Opening a
database brings its schema to the current revision (relance.storage.migrate)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import ConnectionPoolEntry
from sqlmodel import Session, SQLModel, create_engine

from relance.storage import migrate, tables  # noqa: F401  (registers the tables)

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def _sqlite_pragmas(  # pragma: no cover - driver callback
    dbapi_conn: sqlite3.Connection, _record: ConnectionPoolEntry
) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def get_engine(url: str, *, auto_migrate: bool = True) -> Engine:
    """One engine per URL per process. On first use the schema is created or upgraded to
    the current revision; with auto_migrate off (RELANCE_DB_AUTO_MIGRATE=false, when
    `relance db upgrade` runs as a deploy step) a database not at head is an error."""
    with _lock:
        engine = _engines.get(url)
        if engine is not None:
            return engine
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)
        if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
            # Private to this engine's connection, gone with it: nothing to migrate.
            SQLModel.metadata.create_all(engine)
        else:
            try:
                migrate.prepare(url, auto_migrate=auto_migrate)
            except BaseException:
                engine.dispose()
                raise
        _engines[url] = engine
        return engine


def dispose_engine(url: str) -> None:
    with _lock:
        engine = _engines.pop(url, None)
    if engine is not None:
        engine.dispose()


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A unit of work: committed when the block ends, rolled back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
