"""`relance db`: the application database's schema (Alembic migrations)."""

from __future__ import annotations

from typing import Any

import typer

from relance.cli.common import fail, finish
from relance.platform.config import get_config

db_app = typer.Typer(no_args_is_help=True, help="The application database's schema (Alembic migrations).")


def _db_target() -> tuple[str, str]:
    from sqlalchemy.engine import make_url

    url = get_config().resolved_database_url()
    return url, make_url(url).render_as_string(hide_password=True)


def _migrate(step: Any, revision: str) -> None:
    """Run `migrate.upgrade` or `migrate.downgrade` and say where the schema went."""
    from relance.storage.migrate import SchemaError

    url, shown = _db_target()
    try:
        before, after = step(url, revision)
    except SchemaError as exc:
        fail(str(exc), 1)
    typer.echo(f"{shown}: {before.describe()} -> {after.describe()}")
    finish(0)


@db_app.command("upgrade")
def db_upgrade(
    revision: str = typer.Option("heads", "--revision", help="Target revision (default: the newest)."),
) -> None:
    """Migrate the database (a deploy step; serialised with any process starting at the same time)."""
    from relance.storage import migrate

    _migrate(migrate.upgrade, revision)


@db_app.command("downgrade")
def db_downgrade(revision: str = typer.Argument(..., help="Revision to go back to, e.g. 0001 (or -1).")) -> None:
    """Undo revisions (a rollback; take a backup first: docs/database.md)."""
    from relance.storage import migrate

    _migrate(migrate.downgrade, revision)


@db_app.command("current")
def db_current() -> None:
    """The database's revision; exits 1 when it is not the newest this Relance has."""
    from relance.storage import migrate

    url, shown = _db_target()
    state = migrate.current(url)
    typer.echo(f"{shown}: {state.describe()}")
    finish(0 if state.at_head else 1)


@db_app.command("history")
def db_history() -> None:
    """The revisions this Relance ships, oldest first."""
    from relance.storage import migrate

    for revision, down, message, is_head in migrate.history():
        typer.echo(f"{down or '<base>'} -> {revision}{' (head)' if is_head else ''}, {message}")
    finish(0)
