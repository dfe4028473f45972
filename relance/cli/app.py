"""The `relance` Typer app and its global options; the command modules add to it."""

from __future__ import annotations

import logging

import typer

from relance.cli.common import fail
from relance.platform.config import get_config

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Relance: billing emails and dunning on Temporal.")

# Long-running services log what they do by default; one-shot commands only problems.
_SERVICES = frozenset({"worker", "api", "dev"})


@app.callback()
def _setup(ctx: typer.Context, verbose: bool = typer.Option(False, "--verbose", "-v")) -> None:
    """RELANCE_LOG_FORMAT (text | json) and RELANCE_LOG_LEVEL, on stderr for every command."""
    from pydantic import ValidationError

    from relance.platform.logs import configure_from

    try:
        config = get_config()
    except ValidationError as exc:
        fail("; ".join(f"RELANCE_{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()))
    default = logging.INFO if verbose or ctx.invoked_subcommand in _SERVICES else logging.WARNING
    configure_from(config, default_level=default)
