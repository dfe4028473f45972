"""Running the API: uvicorn, in the caller's event loop, until `stop_event` is set.

`relance api` and the embedded stack (`make run`) call `serve`; they own the process's
signals and set the event, so uvicorn's own signal handling is turned off here."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator

import uvicorn

from relance.api.app import create_app
from relance.client import RelanceClient
from relance.platform.config import Config
from relance.platform.temporal_client import connect
from relance.services.recovery_metrics import register_recovery_metrics
from relance.storage.database import get_engine

log = logging.getLogger("relance.api")


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn would replace the caller's SIGINT/SIGTERM handlers while serving.
        yield


async def connect_lazily(config: Config) -> RelanceClient:
    """Connects on first use, and again after a failure: the API starts, and /healthz
    answers, while Temporal is still coming up; routes that need Temporal answer 503."""
    return RelanceClient(await connect(config, lazy=True), config.task_queue)


def bind_socket(host: str, port: int) -> socket.socket:
    """Bound here rather than by uvicorn, which calls sys.exit when the port is taken;
    the caller gets an OSError it can report instead."""
    family, type_, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[
        0
    ]
    sock = socket.socket(family, type_, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


async def serve(
    config: Config,
    stop_event: asyncio.Event,
    *,
    relance_client: RelanceClient | None = None,
    sock: socket.socket | None = None,
) -> None:
    """Serve on config.api_host:api_port (or on `sock`) until stop_event is set.
    Raises OSError if the address cannot be bound."""
    from relance.platform.metrics import serve_metrics

    serve_metrics(config)  # RELANCE_METRICS_BIND: a port of its own, not a route behind the API key
    engine = get_engine(config.resolved_database_url(), auto_migrate=config.db_auto_migrate)
    if config.metrics_bind:
        register_recovery_metrics(engine)  # gauges computed at scrape, from the recovery report
    client = relance_client or await connect_lazily(config)
    if not config.api_key or not config.api_key.get_secret_value():
        log.warning("RELANCE_API_KEY is not set: every route but /healthz and the webhooks answers 401")
    app = create_app(config, engine, client)
    sock = sock or bind_socket(config.api_host, config.api_port)
    host, port = sock.getsockname()[:2]
    server = _Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,
            lifespan="off",
            timeout_graceful_shutdown=10,
            server_header=False,
        )
    )
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    stopping = asyncio.create_task(stop_event.wait())
    try:
        log.info("API listening on http://%s:%s", host, port)
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
        server.should_exit = True
        await serving
    finally:
        stopping.cancel()
        if not serving.done():
            server.should_exit = True
            server.force_exit = True
            with contextlib.suppress(BaseException):
                await serving
        sock.close()
