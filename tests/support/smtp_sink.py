"""A real SMTP server on 127.0.0.1 (aiosmtpd, in its own thread) that records what it gets.

Use it as a context manager; point SmtpTransport (or any SMTP client) at `sink.host`,
`sink.port`:

    from tests.support.smtp_sink import SmtpSink

    with SmtpSink() as sink:
        await SmtpTransport(sink.host, sink.port).send(email)
        received = sink.messages[0]          # ReceivedMessage
        received.rcpt_tos                    # SMTP envelope recipients
        received.message["Subject"]          # parsed with email.policy.default

Scripting failures (each applies to the next matching command, once, in order):

    sink.refuse_recipient("ghost@example.com")                  # 550 for that RCPT, always
    sink.refuse_recipient("busy@example.com", "451 4.2.1 Try later")
    sink.fail_next("DATA", "452 4.3.1 Insufficient storage")   # MAIL, RCPT or DATA
    sink.drop_next("DATA")                                      # close without a reply
    sink.delay_next("DATA", 2.0)                                # for client timeouts

Options: `SmtpSink(auth={"user": "secret"})` requires AUTH LOGIN/PLAIN (535 on a wrong
password; aiosmtpd warns about AUTH without TLS, so mark such tests with
`@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")`);
`data_size_limit=...` answers 552 above it; `tls=TlsFiles(...)` from
`self_signed_cert(tmp_path)` offers STARTTLS, or implicit TLS with `implicit_tls=True`;
`sink.client_tls_context()` is an SSLContext that trusts that certificate.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import ipaddress
import socket
import ssl
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

Command = Literal["MAIL", "RCPT", "DATA"]


@dataclass
class ReceivedMessage:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)


@dataclass(frozen=True)
class TlsFiles:
    certfile: Path
    keyfile: Path


@dataclass
class _Action:
    reply: str | None = None  # SMTP reply to send instead of the normal one
    drop: bool = False
    delay: float = 0.0


@dataclass
class _Script:
    lock: threading.Lock = field(default_factory=threading.Lock)
    actions: dict[str, deque[_Action]] = field(
        default_factory=lambda: {"MAIL": deque(), "RCPT": deque(), "DATA": deque()}
    )

    def take(self, command: str) -> _Action | None:
        with self.lock:
            queue = self.actions[command]
            return queue.popleft() if queue else None


class SmtpSink:
    host = "127.0.0.1"

    def __init__(
        self,
        *,
        auth: dict[str, str] | None = None,
        data_size_limit: int = 33_554_432,
        tls: TlsFiles | None = None,
        implicit_tls: bool = False,
    ) -> None:
        self.messages: list[ReceivedMessage] = []
        self.port = free_port()
        self._script = _Script()
        self._refused: dict[str, str] = {}
        self._tls = tls
        kwargs: dict[str, Any] = {"data_size_limit": data_size_limit}
        if auth is not None:
            kwargs.update(
                authenticator=_Authenticator(auth),
                auth_required=True,
                # Plain-text AUTH is fine on loopback and keeps tests free of certificates.
                auth_require_tls=False,
            )
        ssl_context = None
        if tls is not None:
            server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            server_ctx.load_cert_chain(tls.certfile, tls.keyfile)
            if implicit_tls:
                ssl_context = server_ctx
            else:
                kwargs["tls_context"] = server_ctx
        elif implicit_tls:
            raise ValueError("implicit_tls needs tls=self_signed_cert(...)")
        self._controller = Controller(
            _Handler(self),
            hostname=self.host,
            port=self.port,
            ssl_context=ssl_context,
            server_hostname="sink.localhost",
            **kwargs,
        )

    def start(self) -> SmtpSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def refuse_recipient(self, address: str, reply: str = "550 5.1.1 No such user") -> None:
        self._refused[address.lower()] = reply

    def fail_next(self, command: Command, reply: str) -> None:
        self._queue(command, _Action(reply=reply))

    def drop_next(self, command: Command = "DATA") -> None:
        self._queue(command, _Action(drop=True))

    def delay_next(self, command: Command, seconds: float) -> None:
        self._queue(command, _Action(delay=seconds))

    def client_tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            raise ValueError("this sink has no TLS certificate")
        return ssl.create_default_context(cafile=str(self._tls.certfile))

    def _queue(self, command: Command, action: _Action) -> None:
        with self._script.lock:
            self._script.actions[command].append(action)


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def _scripted(self, server: Any, command: str) -> str | None:
        action = self.sink._script.take(command)
        if action is None:
            return None
        if action.delay:
            await asyncio.sleep(action.delay)
        if action.drop:
            server.transport.close()
            # aiosmtpd writes this to the closed transport, where it goes nowhere.
            return "421 4.3.0 Connection dropped by test"
        return action.reply

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: ANN001
        if reply := await self._scripted(server, "MAIL"):
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: ANN001
        if reply := self.sink._refused.get(address.lower()):
            return reply
        if reply := await self._scripted(server, "RCPT"):
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001
        if reply := await self._scripted(server, "DATA"):
            return reply
        self.sink.messages.append(
            ReceivedMessage(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
        )
        return "250 2.0.0 Message accepted for delivery"


class _Authenticator:
    def __init__(self, users: dict[str, str]) -> None:
        self.users = users

    def __call__(self, server, session, envelope, mechanism, auth_data) -> AuthResult:  # noqa: ANN001
        if isinstance(auth_data, LoginPassword):
            login = auth_data.login.decode()
            if self.users.get(login) == auth_data.password.decode():
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


def free_port() -> int:
    # aiosmtpd's Controller needs the port up front (it connects to it to check
    # readiness), so ask the OS for one; the tiny race is acceptable in tests.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def self_signed_cert(directory: Path) -> TlsFiles:
    """A certificate for 127.0.0.1 and localhost, written under `directory`.

    Needs the `cryptography` package (skip the test with pytest.importorskip otherwise).
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "relance test sink")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(directory / "sink-cert.pem", directory / "sink-key.pem")
    files.certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files
