"""What every command shares: leaving the process (`finish`), refusing with a clear
message (`fail`), running a coroutine with Temporal's and the settings' errors reported
(`run`), reading a JSON file, and a database session from the settings."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Coroutine
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from relance.platform.config import get_config

if TYPE_CHECKING:
    from sqlmodel import Session

    from relance.contracts.kinds import EmailKind


def finish(code: int = 0) -> NoReturn:
    # The Temporal SDK can abort at interpreter exit (sdk-python#300, rc 134): flush and
    # leave without running finalizers, so a success stays a success.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def fail(message: str, code: int = 2) -> NoReturn:
    from relance.platform.logs import json_active

    if json_active():  # a log pipeline reading stderr gets the reason as one of its lines
        logging.getLogger("relance.cli").error(message)
    else:
        typer.echo(f"error: {message}", err=True)
    finish(code)


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    try:
        return asyncio.run(coro)
    except KeyboardInterrupt:
        finish(130)
    except ValueError as exc:
        from relance.platform.config import SettingError
        from relance.platform.temporal_client import TLSSettingsError

        if not isinstance(exc, (TLSSettingsError, SettingError)):
            raise
        fail(str(exc), 2)
    except RuntimeError as exc:
        if "Failed client connect" not in str(exc):
            raise
        from relance.platform.temporal_client import connect_error_hint

        config = get_config()
        hint = connect_error_hint(config, exc)
        fail(hint + (" (is `make run` running?)" if hint.startswith("cannot reach") else ""), 1)


def read_json(path: Path) -> Any:
    try:
        # Bytes: json detects UTF-8/16/32 itself, whatever the terminal's locale.
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        fail(f"{path}: no such file")
    except OSError as exc:  # a directory, no permission...
        fail(f"{path}: cannot read it: {exc.strerror or exc}")
    except json.JSONDecodeError as exc:
        fail(f"{path}: invalid JSON: {exc}")
    except UnicodeDecodeError:
        fail(f"{path}: invalid JSON: not UTF-8 text")
    except RecursionError:
        fail(f"{path}: invalid JSON: nested too deeply")


def db_session() -> AbstractContextManager[Session]:
    from relance.storage.database import get_engine, session_scope

    config = get_config()
    return session_scope(get_engine(config.resolved_database_url(), auto_migrate=config.db_auto_migrate))


def email_kind(value: str) -> EmailKind:
    from relance.contracts.kinds import EmailKind

    try:
        return EmailKind(value)
    except ValueError:
        fail(f"unknown kind {value!r}; one of: {', '.join(k.value for k in EmailKind)}")
