"""A TLS-terminating TCP proxy on 127.0.0.1 in front of a plaintext gRPC server (the dev
server speaks no TLS): the client side is real TLS (ALPN h2, optionally requiring a
client certificate), the bytes inside go to the upstream unchanged. It keeps the first
bytes each client sent, decrypted, so a test can read the HTTP/2 request headers (the
`authorization` metadata) with h2.

    ca = trustme.CA()
    with TlsProxy(upstream=("127.0.0.1", 7233), ca=ca, require_client_cert=True) as proxy:
        proxy.address            # "127.0.0.1:PORT"
        proxy.request_headers()  # [{":path": ..., "authorization": ...}, ...]
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from typing import TypeVar

import trustme

_Socket = TypeVar("_Socket", bound=socket.socket)  # a tracked socket keeps its type (SSLSocket)
_KEEP = 64 * 1024  # bytes of each client's stream kept for header inspection


class TlsProxy:
    """Threads and blocking sockets: each handshake is done explicitly, so a refused one
    (no client certificate, a client that distrusts us) is recorded with its reason."""

    def __init__(
        self,
        upstream: tuple[str, int],
        ca: trustme.CA,
        *,
        require_client_cert: bool = False,
        names: tuple[str, ...] = ("localhost", "127.0.0.1"),
    ) -> None:
        self.upstream = upstream
        self.ca = ca
        self.server_cert = ca.issue_cert(*names)
        self.require_client_cert = require_client_cert
        self.received: list[bytearray] = []
        self.handshake_errors: list[str] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.server_cert.configure_cert(ctx)
        ctx.set_alpn_protocols(["h2"])
        if self.require_client_cert:
            self.ca.configure_trust(ctx)
            ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _track(self, sock: _Socket) -> _Socket:
        with self._lock:
            self._sockets.append(sock)
        return sock

    def _accept(self) -> None:
        while True:
            try:
                raw, _ = self._listener.accept()
            except OSError:
                return  # closed by stop()
            self._spawn(self._serve, self._track(raw))

    def _serve(self, raw: socket.socket) -> None:
        raw.settimeout(10)
        # The handshake is done by hand: wrap_socket's own would close the socket on failure
        # before _linger_close could let the client read the alert.
        client = self._track(self._ssl.wrap_socket(raw, server_side=True, do_handshake_on_connect=False))
        try:
            client.do_handshake()
        except (ssl.SSLError, OSError) as exc:
            self.handshake_errors.append(f"{type(exc).__name__}: {exc}")
            self._linger_close(client)
            return
        client.settimeout(None)
        try:
            upstream = self._track(socket.create_connection(self.upstream, timeout=10))
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        keep = bytearray()
        self.received.append(keep)
        self._spawn(self._pipe, upstream, client, None)
        self._pipe(client, upstream, keep)

    @staticmethod
    def _linger_close(sock: socket.socket) -> None:
        # With TLS 1.3 the client sends its Finished (and its first request) before it can
        # see the server's "certificate required" alert. Closing with those bytes unread
        # makes the kernel answer with a RST, which can reach the client before it has read
        # the alert, so it would report a bare "connection closed". Half-close and drain
        # first, so the client always reads the alert and names the real reason.
        try:
            # Below TLS now: the alert is already written; the rest is plain TCP.
            sock = socket.socket(fileno=sock.detach()) if isinstance(sock, ssl.SSLSocket) else sock
            sock.shutdown(socket.SHUT_WR)
            sock.settimeout(2)
            while sock.recv(65536):
                pass
        except OSError:
            pass
        finally:
            sock.close()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket, keep: bytearray | None) -> None:
        try:
            while data := src.recv(65536):
                if keep is not None and len(keep) < _KEEP:
                    keep.extend(data[: _KEEP - len(keep)])
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def start(self) -> TlsProxy:
        self._ssl = self._context()
        self._spawn(self._accept)
        return self

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self._listener.close()
        with self._lock:
            sockets, threads = list(self._sockets), list(self._threads)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in threads:
            thread.join(10)

    def __enter__(self) -> TlsProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def request_headers(self) -> list[dict[str, str]]:
        """The HTTP/2 request headers each client sent, decoded from its stream."""
        import h2.config
        import h2.connection
        import h2.events

        found = []
        for raw in self.received:
            conn = h2.connection.H2Connection(
                h2.config.H2Configuration(client_side=False, validate_inbound_headers=False)
            )
            conn.initiate_connection()
            # Frame by frame (24-byte preface, then 9-byte header + payload), so a frame
            # cut off at the end of what was kept loses nothing before it.
            chunks, pos = [bytes(raw[:24])], 24
            while pos + 9 <= len(raw):
                end = pos + 9 + int.from_bytes(raw[pos : pos + 3], "big")
                chunks.append(bytes(raw[pos:end]))
                pos = end
            for chunk in chunks:
                try:
                    events = conn.receive_data(chunk)
                except Exception:  # noqa: BLE001 - flow control etc.: we are only a reader
                    break
                for ev in events:
                    if isinstance(ev, h2.events.RequestReceived):
                        found.append(
                            {
                                (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
                                for k, v in ev.headers
                            }
                        )
        return found
