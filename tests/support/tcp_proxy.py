"""A loopback TCP proxy a test can cut: put it between a process and a server (here the
worker and PostgreSQL) and make the server unreachable for a while.

    proxy = TcpProxy("127.0.0.1", 5432)
    await proxy.start()             # proxy.port: point the client at 127.0.0.1:<port>
    await proxy.cut()               # open connections reset, new ones refused (port closed)
    await proxy.restore()           # listening again on the same port
    await proxy.stop()

It runs on the test's event loop: every `await` in the test (polls, sleeps) keeps it going.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket


class TcpProxy:
    host = "127.0.0.1"

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self.connections = 0  # accepted since start, for tests that want to see traffic
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task] = set()

    async def start(self) -> TcpProxy:
        if not self.port:
            with socket.socket() as s:
                s.bind((self.host, 0))
                self.port = s.getsockname()[1]
        self._server = await asyncio.start_server(self._accept, self.host, self.port, reuse_address=True)
        return self

    async def cut(self) -> None:
        """Refuse new connections and reset the open ones, as a database that went away."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        self._writers.clear()

    async def restore(self) -> None:
        await self.start()

    async def stop(self) -> None:
        await self.cut()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        pipes = [
            asyncio.ensure_future(self._pipe(reader, up_writer)),
            asyncio.ensure_future(self._pipe(up_reader, writer)),
        ]
        self._tasks.update(pipes)
        try:
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in pipes:
                task.cancel()
                self._tasks.discard(task)
            for w in (writer, up_writer):
                self._writers.discard(w)
                with contextlib.suppress(Exception):
                    w.transport.abort()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError, OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
