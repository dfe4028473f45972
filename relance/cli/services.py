"""The long-running commands: `relance dev` (the embedded stack), `relance worker`,
`relance api`. Each stops cleanly on SIGINT and SIGTERM."""

from __future__ import annotations

import asyncio
import signal

from relance.cli.common import fail, finish, run
from relance.platform.config import get_config


def dev() -> None:
    """Run the embedded stack: Temporal dev server, worker, local outbox (what `make run` starts)."""
    from relance.dev import DevServerError, run_dev

    try:
        run(run_dev(get_config()))
    except DevServerError as exc:
        fail(str(exc), 1)
    finish(0)


def worker() -> None:
    """Run a worker against the Temporal server from the settings (RELANCE_TEMPORAL_ADDRESS...)."""
    from relance.platform.config import SettingError
    from relance.platform.metrics import serve_metrics

    try:
        serve_metrics(get_config())  # a taken metrics port stops the worker before its imports
    except SettingError as exc:
        fail(str(exc), 2)
    from worker.main import run_worker

    async def go() -> None:
        # SIGTERM is how containers and process managers stop a worker: shut down cleanly
        # (running activities finish, the PDF processes go with it), as on Ctrl-C.
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        await run_worker(get_config(), stop)

    run(go())
    finish(0)


def api() -> None:
    """Run the HTTP API (RELANCE_API_HOST:RELANCE_API_PORT, default 127.0.0.1:8000)."""
    from relance.api.server import serve

    async def go() -> None:
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        await serve(get_config(), stop)

    try:
        run(go())
    except OSError as exc:
        fail(f"cannot serve the API: {exc}", 1)
    finish(0)
