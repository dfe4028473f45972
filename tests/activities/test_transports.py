"""Delivery transports against real endpoints: an outbox directory, a local SMTP server
(aiosmtpd) and a local SendGrid stand-in that validates every payload against SendGrid's
OpenAPI spec. Messages are parsed back with the email package and checked field by field."""

from __future__ import annotations

import base64
import json
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr

from activities.transports import sendgrid as sendgrid_module
from activities.transports.base import DeliveryError, PermanentDeliveryError, RetryableDeliveryError
from activities.transports.factory import build_transport
from activities.transports.mime import build_message, format_message_id
from activities.transports.outbox import OutboxTransport, eml_filename, outbox_filename
from activities.transports.sendgrid import (
    MESSAGE_ID_ARG,
    SendGridTransport,
    build_payload,
    retry_after_seconds,
)
from activities.transports.smtp import SmtpTransport
from relance.contracts.addresses import UnsafeHeader
from relance.contracts.messages import Attachment, MessageOrigin, OutgoingEmail
from relance.platform.config import Config
from tests.support.fake_sendgrid import FakeSendGrid, validate_mail_send
from tests.support.mail import body_text
from tests.support.smtp_sink import SmtpSink, free_port, self_signed_cert

CVE_PAYLOAD = "=?utf-8?q?Hi=0ABcc:_x@evil?="
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
CSV = "date;montant\n2024-01-31;1 234,56 €\n".encode()
MESSAGE_ID = "<5f2b9c0e6d1a4b7c8e9f0a1b2c3d4e5f@acme.example>"


def make_email(**overrides: Any) -> OutgoingEmail:
    fields: dict[str, Any] = dict(
        message_id=MESSAGE_ID,
        from_email="billing@acme.example",
        from_name="Acme, Inc. — Facturation",
        to=["alice@customer.example", "Bob@Customer.example"],
        cc=["accounts@customer.example"],
        reply_to="support@acme.example",
        subject="Facture n°2024-001 : échéance dépassée",
        html="<p>Bonjour,</p><p>La facture <b>2024-001</b> est échue.</p>",
        text="Bonjour,\n\nLa facture 2024-001 est échue.\n",
        attachments=[
            Attachment(filename="invoice-2024-001.pdf", content=PDF),
            Attachment(filename="relevé janvier.csv", content_type="text/csv", content=CSV),
        ],
        tags={"kind": "invoice_reminder", "email_key": "0123456789abcdef"},
    )
    fields.update(overrides)
    return OutgoingEmail(**fields)


def assert_full_message(msg: EmailMessage, email: OutgoingEmail) -> None:
    """The message as a mail client would read it."""
    assert msg["From"].addresses[0].display_name == "Acme, Inc. — Facturation"
    assert msg["From"].addresses[0].addr_spec == "billing@acme.example"
    assert [a.addr_spec for a in msg["To"].addresses] == ["alice@customer.example", "Bob@customer.example"]
    assert [a.addr_spec for a in msg["Cc"].addresses] == ["accounts@customer.example"]
    assert msg["Reply-To"].addresses[0].addr_spec == "support@acme.example"
    assert msg["Subject"] == email.subject
    assert msg["Message-ID"] == email.message_id
    assert parsedate_to_datetime(msg["Date"]) > datetime.now(UTC) - timedelta(minutes=5)
    assert msg["Bcc"] is None
    assert msg["X-Relance-Kind"] == "invoice_reminder"
    assert msg["X-Relance-Email-Key"] == "0123456789abcdef"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert not msg.defects

    assert msg.get_content_type() == "multipart/mixed"
    alternative, *attachments = msg.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alternative.iter_parts()] == ["text/plain", "text/html"]
    # The wire format is CRLF; readers see the same text once line endings are normalized.
    assert body_text(msg, "plain").replace("\r\n", "\n") == email.text
    assert body_text(msg, "html").strip() == email.html

    # Raw bytes: a text/* attachment without a charset would be decoded as ASCII.
    assert [(a.get_filename(), a.get_content_type(), a.get_payload(decode=True)) for a in attachments] == [
        ("invoice-2024-001.pdf", "application/pdf", PDF),
        ("relevé janvier.csv", "text/csv", CSV),
    ]
    assert all(a.get_content_disposition() == "attachment" for a in attachments)


def parse(data: bytes) -> EmailMessage:
    import email
    import email.policy

    return email.message_from_bytes(data, policy=email.policy.default)


INJECTIONS: list[tuple[str, dict[str, Any]]] = [
    ("crlf-subject", {"subject": "Invoice\r\nBcc: x@evil.example"}),
    ("lf-subject", {"subject": "Invoice\nBcc: x@evil.example"}),
    ("encoded-word-subject", {"subject": CVE_PAYLOAD}),
    ("crlf-name", {"from_name": "Acme\r\nBcc: x@evil.example"}),
    ("encoded-word-name", {"from_name": CVE_PAYLOAD}),
    ("crlf-in-address", {"to": ["alice@customer.example\r\nBcc: x@evil.example"]}),
    ("crlf-in-reply-to", {"reply_to": "support@acme.example\nBcc: x@evil.example"}),
    ("crlf-in-filename", {"attachments": [Attachment(filename="a.pdf\r\nBcc: x@evil.example", content=PDF)]}),
    ("encoded-word-filename", {"attachments": [Attachment(filename=CVE_PAYLOAD, content=PDF)]}),
    ("path-in-filename", {"attachments": [Attachment(filename="../../etc/passwd", content=PDF)]}),
    (
        "bad-content-type",
        {"attachments": [Attachment(filename="a.pdf", content_type="text/html\r\nX: y", content=PDF)]},
    ),
    ("crlf-in-tag", {"tags": {"kind": "x\r\nBcc: x@evil.example"}}),
    ("encoded-word-tag", {"tags": {"kind": CVE_PAYLOAD}}),
    ("bad-tag-key", {"tags": {"kind: x": "y"}}),
    ("crlf-message-id", {"message_id": "<a@b>\r\nBcc: x@evil.example"}),
    ("bad-message-id", {"message_id": "<no-at-sign>"}),
    ("1001-recipients", {"to": [f"r{i}@customer.example" for i in range(1001)], "cc": []}),
    (
        "1001-with-cc",
        {"to": [f"t{i}@customer.example" for i in range(600)], "cc": [f"c{i}@customer.example" for i in range(401)]},
    ),
    ("no-recipient", {"to": [], "cc": []}),
    ("blank-subject", {"subject": "  "}),
    ("no-body", {"text": "", "html": ""}),
]


# ---- MIME -----------------------------------------------------------------------------


def test_build_message_structure_and_headers() -> None:
    email = make_email()
    msg = parse(build_message(email).as_bytes())
    assert_full_message(msg, email)


def test_build_message_without_attachments_is_plain_alternative() -> None:
    msg = parse(build_message(make_email(attachments=[])).as_bytes())
    assert msg.get_content_type() == "multipart/alternative"
    assert body_text(msg, "plain").startswith("Bonjour")


def test_build_message_serializes_with_crlf_and_ascii_headers() -> None:
    data = build_message(make_email()).as_bytes()
    head = data.split(b"\r\n\r\n", 1)[0]
    assert b"\n" not in head.replace(b"\r\n", b"")
    head.decode("ascii")  # non-ASCII names and subjects are encoded by the library


@pytest.mark.parametrize("case,overrides", INJECTIONS, ids=[c for c, _ in INJECTIONS])
def test_build_message_refuses_injection(case: str, overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        build_message(make_email(**overrides))


def test_build_message_refuses_encoded_word_even_when_caller_skipped_validation() -> None:
    # model_construct skips pydantic validation, like a caller that trusted its input.
    email = OutgoingEmail.model_construct(**{**make_email().model_dump(), "subject": CVE_PAYLOAD})
    with pytest.raises(UnsafeHeader, match="Subject"):
        build_message(email)


def test_cc_already_in_to_is_dropped_and_idn_normalized() -> None:
    email = make_email(to=["Jean@Bücher.Example"], cc=["jean@xn--bcher-kva.example", "x@customer.example"])
    msg = parse(build_message(email).as_bytes())
    assert msg["To"].addresses[0].addr_spec == "Jean@xn--bcher-kva.example"
    assert [a.addr_spec for a in msg["Cc"].addresses] == ["x@customer.example"]


def test_message_id_gets_angle_brackets() -> None:
    assert format_message_id("abc.def@acme.example") == "<abc.def@acme.example>"
    assert format_message_id(MESSAGE_ID) == MESSAGE_ID


# ---- Outbox ---------------------------------------------------------------------------


def eml_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.eml"))


async def test_outbox_writes_a_complete_message(tmp_path: Path) -> None:
    transport = OutboxTransport(tmp_path / "outbox")
    email = make_email()
    outcome = await transport.send(email)

    assert outcome.provider == "outbox"
    assert outcome.provider_message_id == MESSAGE_ID
    [path] = eml_files(tmp_path / "outbox")
    assert path == transport.path_for(email)
    assert_full_message(parse(path.read_bytes()), email)
    assert os.listdir(tmp_path / "outbox") == [path.name]  # no temp file left behind


async def test_outbox_is_idempotent(tmp_path: Path) -> None:
    transport = OutboxTransport(tmp_path)
    first = await transport.send(make_email())
    [path] = eml_files(tmp_path)
    before = (path.read_bytes(), path.stat().st_mtime_ns)

    # A retry of the same email (same Message-ID) after a crash, even re-rendered.
    second = await transport.send(make_email(subject="Re-rendered subject"))

    assert second == first
    assert os.listdir(tmp_path) == [path.name]
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


async def test_outbox_never_shows_a_partial_eml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, list[str]]] = []
    real_replace = os.replace

    def spying_replace(src: str, dst: str) -> None:
        # The moment just before publication: the bytes are all written, under a
        # name nothing watching for *.eml would pick up.
        seen.append((os.path.basename(src), sorted(os.listdir(tmp_path))))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spying_replace)
    await OutboxTransport(tmp_path).send(make_email())

    [(temp_name, listing)] = seen
    assert not temp_name.endswith(".eml")
    assert listing == [temp_name]
    assert [p.name for p in eml_files(tmp_path)] == [eml_filename(MESSAGE_ID)]


async def test_outbox_write_failure_is_retryable_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(RetryableDeliveryError, match="No space left"):
        await OutboxTransport(tmp_path).send(make_email())
    assert os.listdir(tmp_path) == []


async def test_outbox_file_name_is_sanitized_and_collision_free(tmp_path: Path) -> None:
    transport = OutboxTransport(tmp_path)
    await transport.send(make_email(message_id="<a/b/c@acme.example>"))
    await transport.send(make_email(message_id="<a_b_c@acme.example>"))
    files = eml_files(tmp_path)
    assert len(files) == 2
    assert all(f.parent == tmp_path and "/" not in f.name and not f.name.startswith(".") for f in files)
    assert {parse(f.read_bytes())["Message-ID"] for f in files} == {"<a/b/c@acme.example>", "<a_b_c@acme.example>"}


def with_origin(kind: str, customer: str, invoice: str | None, at: datetime, key: str, **overrides: Any):
    origin = MessageOrigin(kind=kind, customer_id=customer, invoice_id=invoice, at=at)
    return make_email(origin=origin, tags={"kind": kind, "email_key": key}, **overrides)


async def test_outbox_names_read_time_kind_object_key_in_ls_order(tmp_path: Path) -> None:
    transport = OutboxTransport(tmp_path)
    paris = ZoneInfo("Europe/Paris")
    k1, k2, k3, k4 = ("a" * 32, "b" * 32, "c" * 32, "d" * 32)
    emails = [
        # Sent in an order that is not time order; one time given in Paris time.
        with_origin(
            "receipt", "cus_1", "in_demo_1", datetime(2026, 12, 9, 8, 0, 0, tzinfo=UTC), k3, message_id="<3@x>"
        ),
        with_origin(
            "invoice_finalized",
            "cus_1",
            "in_demo_1",
            datetime(2026, 12, 7, 4, 1, 22, tzinfo=paris),
            k1,
            message_id="<1@x>",
        ),
        # No invoice: the customer id; ids with characters no file system likes.
        with_origin("card_expiring", "cus/../x:y", None, datetime(2026, 12, 8, tzinfo=UTC), k2, message_id="<2@x>"),
        with_origin("refund_issued", "cus_1", "in:a/b", datetime(2026, 12, 10, tzinfo=UTC), k4, message_id="<4@x>"),
    ]
    for email in emails:
        await transport.send(email)
    assert os.listdir(tmp_path) and sorted(os.listdir(tmp_path)) == [
        f"2026-12-07T030122Z_invoice_finalized_in_demo_1_{k1}.eml",
        f"2026-12-08T000000Z_card_expiring_cus_.._x_y_{k2}.eml",
        f"2026-12-09T080000Z_receipt_in_demo_1_{k3}.eml",
        f"2026-12-10T000000Z_refund_issued_in_a_b_{k4}.eml",
    ]
    assert [parse(p.read_bytes())["Message-ID"] for p in eml_files(tmp_path)] == ["<1@x>", "<2@x>", "<3@x>", "<4@x>"]


async def test_outbox_names_are_unique_and_stable_across_attempts(tmp_path: Path) -> None:
    at = datetime(2026, 12, 7, 3, 1, 22, tzinfo=UTC)
    # Two emails whose ids sanitize alike, at the same second: the key tells them apart.
    one = with_origin("invoice_reminder", "cus_1", "in/1", at, "1" * 32, message_id="<1@x>")
    two = with_origin("invoice_reminder", "cus_1", "in:1", at, "2" * 32, message_id="<2@x>")
    assert outbox_filename(one) != outbox_filename(two)
    # The same email re-rendered on a retry keeps its name.
    assert outbox_filename(one.model_copy(update={"subject": "Re-rendered"})) == outbox_filename(one)
    # A message stored before it carried an origin keeps its first name.
    assert outbox_filename(make_email()) == eml_filename(MESSAGE_ID)
    # A long id is cut, never the time or the key.
    long = outbox_filename(with_origin("receipt", "c", "in_" + "x" * 500, at, "3" * 32))
    assert len(long) < 200 and long.startswith("2026-12-07T030122Z_receipt_in_x") and long.endswith("3" * 32 + ".eml")


async def test_outbox_accepts_the_default_local_sender(tmp_path: Path) -> None:
    config = Config(_env_file=None, state_dir=tmp_path)
    transport = build_transport(config)
    assert isinstance(transport, OutboxTransport)
    await transport.send(make_email(from_email=config.default_from_email, message_id="<x@relance.localhost>"))
    [path] = eml_files(config.resolved_outbox_dir())
    assert parse(path.read_bytes())["From"].addresses[0].addr_spec == "billing@relance.localhost"


# ---- Every transport refuses the same bad input, and sends nothing -------------------


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as s:
        yield s


@pytest.fixture
def fake_sendgrid() -> Iterator[FakeSendGrid]:
    with FakeSendGrid() as fake:
        yield fake


@pytest.fixture
def transports(tmp_path: Path, sink: SmtpSink, fake_sendgrid: FakeSendGrid) -> dict[str, tuple[Any, Callable[[], int]]]:
    """name -> (transport, how many messages reached its endpoint)."""
    return {
        "outbox": (OutboxTransport(tmp_path), lambda: len(os.listdir(tmp_path))),
        "smtp": (SmtpTransport(sink.host, sink.port, timeout=5), lambda: len(sink.messages)),
        "sendgrid": (
            SendGridTransport(fake_sendgrid.api_key, base_url=fake_sendgrid.url, timeout=5),
            lambda: len(fake_sendgrid.requests),
        ),
    }


@pytest.mark.parametrize("name", ["outbox", "smtp", "sendgrid"])
@pytest.mark.parametrize("case,overrides", INJECTIONS, ids=[c for c, _ in INJECTIONS])
async def test_transports_refuse_unsafe_input_permanently(
    transports: dict[str, tuple[Any, Callable[[], int]]], name: str, case: str, overrides: dict[str, Any]
) -> None:
    transport, delivered = transports[name]
    with pytest.raises(PermanentDeliveryError):
        await transport.send(make_email(**overrides))
    assert delivered() == 0


# ---- SMTP -----------------------------------------------------------------------------


async def test_smtp_delivers_a_complete_message(sink: SmtpSink) -> None:
    email = make_email(cc=["accounts@customer.example", "ALICE@customer.example"])
    outcome = await SmtpTransport(sink.host, sink.port, timeout=5).send(email)

    assert outcome.provider == "smtp"
    assert outcome.provider_message_id == MESSAGE_ID
    [received] = sink.messages
    assert received.mail_from == "billing@acme.example"
    # Envelope = To + Cc, Cc duplicates of To dropped, never anyone else.
    assert received.rcpt_tos == ["alice@customer.example", "Bob@customer.example", "accounts@customer.example"]
    assert_full_message(received.message, email.model_copy(update={"cc": ["accounts@customer.example"]}))


async def test_smtp_idn_recipient_is_punycoded_on_the_wire(sink: SmtpSink) -> None:
    await SmtpTransport(sink.host, sink.port, timeout=5).send(make_email(to=["Jean@Bücher.Example"], cc=[]))
    [received] = sink.messages
    assert received.rcpt_tos == ["Jean@xn--bcher-kva.example"]
    assert received.message["To"].addresses[0].addr_spec == "Jean@xn--bcher-kva.example"


@pytest.mark.parametrize(
    "reply,error,status",
    [
        ("451 4.7.1 Greylisted, try again later", RetryableDeliveryError, 451),
        ("550 5.1.1 No such user", PermanentDeliveryError, 550),
    ],
)
async def test_smtp_all_recipients_refused(sink: SmtpSink, reply: str, error: type[DeliveryError], status: int) -> None:
    email = make_email()
    for addr in [*email.to, *email.cc]:
        sink.refuse_recipient(addr, reply)
    with pytest.raises(error) as info:
        await SmtpTransport(sink.host, sink.port, timeout=5).send(email)
    assert type(info.value) is error
    assert info.value.status == status
    assert sink.messages == []


async def test_smtp_mixed_refusals_with_any_5xx_are_permanent(sink: SmtpSink) -> None:
    sink.refuse_recipient("alice@customer.example", "451 4.2.1 Mailbox busy")
    sink.refuse_recipient("bob@customer.example", "550 5.1.1 No such user")
    with pytest.raises(PermanentDeliveryError) as info:
        await SmtpTransport(sink.host, sink.port, timeout=5).send(make_email(cc=[]))
    assert info.value.status == 550


async def test_smtp_partial_refusal_counts_as_sent(sink: SmtpSink, caplog: pytest.LogCaptureFixture) -> None:
    sink.refuse_recipient("bob@customer.example", "550 5.1.1 No such user")
    with caplog.at_level(logging.WARNING, logger="activities.transports.smtp"):
        outcome = await SmtpTransport(sink.host, sink.port, timeout=5).send(make_email())
    assert outcome.provider_message_id == MESSAGE_ID
    [received] = sink.messages
    assert received.rcpt_tos == ["alice@customer.example", "accounts@customer.example"]
    assert "refused 1 of 3 recipients" in caplog.text and "550" in caplog.text
    assert "bob@customer.example" not in caplog.text.lower()


@pytest.mark.parametrize(
    "command,reply,error,status",
    [
        ("MAIL", "451 4.3.0 Temporary failure", RetryableDeliveryError, 451),
        ("MAIL", "553 5.7.1 Sender not allowed", PermanentDeliveryError, 553),
        ("DATA", "452 4.3.1 Insufficient system storage", RetryableDeliveryError, 452),
        ("DATA", "554 5.7.1 Message rejected as spam", PermanentDeliveryError, 554),
    ],
)
async def test_smtp_replies_are_classified(
    sink: SmtpSink, command: Any, reply: str, error: type[DeliveryError], status: int
) -> None:
    sink.fail_next(command, reply)
    with pytest.raises(error) as info:
        await SmtpTransport(sink.host, sink.port, timeout=5).send(make_email())
    assert type(info.value) is error
    assert info.value.status == status
    assert reply.split(" ", 2)[2] in str(info.value)


async def test_smtp_message_too_large_is_permanent() -> None:
    with SmtpSink(data_size_limit=1024) as small:
        with pytest.raises(PermanentDeliveryError) as info:
            await SmtpTransport(small.host, small.port, timeout=5).send(make_email())
    assert info.value.status == 552


async def test_smtp_connection_dropped_mid_transaction_is_retryable(sink: SmtpSink) -> None:
    sink.drop_next("DATA")
    with pytest.raises(RetryableDeliveryError):
        await SmtpTransport(sink.host, sink.port, timeout=5).send(make_email())
    # The next attempt goes through.
    await SmtpTransport(sink.host, sink.port, timeout=5).send(make_email())
    assert len(sink.messages) == 1


async def test_smtp_connection_refused_is_retryable() -> None:
    with pytest.raises(RetryableDeliveryError):
        await SmtpTransport("127.0.0.1", free_port(), timeout=2).send(make_email())


async def test_smtp_timeout_is_retryable(sink: SmtpSink) -> None:
    sink.delay_next("DATA", 3.0)
    started = time.monotonic()
    with pytest.raises(RetryableDeliveryError):
        await SmtpTransport(sink.host, sink.port, timeout=0.5).send(make_email())
    assert time.monotonic() - started < 2.5


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_smtp_auth() -> None:
    with SmtpSink(auth={"relance": "correct horse"}) as sink:
        good = SmtpTransport(sink.host, sink.port, username="relance", password=SecretStr("correct horse"))
        await good.send(make_email())
        assert len(sink.messages) == 1

        bad = SmtpTransport(sink.host, sink.port, username="relance", password="battery staple", timeout=5)
        with pytest.raises(PermanentDeliveryError, match="authentication failed") as info:
            await bad.send(make_email())
        assert info.value.status == 535
        assert "battery staple" not in str(info.value) and "battery staple" not in repr(bad)
        assert len(sink.messages) == 1


@pytest.mark.parametrize("implicit", [False, True], ids=["starttls", "implicit-tls"])
async def test_smtp_tls(tmp_path: Path, implicit: bool) -> None:
    pytest.importorskip("cryptography")
    with SmtpSink(tls=self_signed_cert(tmp_path), implicit_tls=implicit) as sink:
        transport = SmtpTransport(
            sink.host,
            sink.port,
            starttls=not implicit,
            use_tls=implicit,
            tls_context=sink.client_tls_context(),
            timeout=5,
        )
        await transport.send(make_email())
        assert sink.messages[0].message["Message-ID"] == MESSAGE_ID

        # Without trusting the sink's certificate the handshake fails: retryable, since
        # it is a configuration or network problem the operator can fix.
        untrusting = SmtpTransport(sink.host, sink.port, starttls=not implicit, use_tls=implicit, timeout=5)
        with pytest.raises(RetryableDeliveryError):
            await untrusting.send(make_email())


def test_smtp_refuses_both_tls_modes() -> None:
    with pytest.raises(ValueError, match="not both"):
        SmtpTransport("localhost", 465, starttls=True, use_tls=True)


# ---- SendGrid -------------------------------------------------------------------------


async def test_sendgrid_sends_a_schema_valid_payload(fake_sendgrid: FakeSendGrid) -> None:
    email = make_email(cc=["accounts@customer.example", "alice@CUSTOMER.example"])
    transport = SendGridTransport(fake_sendgrid.api_key, base_url=fake_sendgrid.url, timeout=5)
    outcome = await transport.send(email)

    assert outcome.provider == "sendgrid"
    assert outcome.provider_message_id == fake_sendgrid.message_ids[0]
    [request] = fake_sendgrid.requests
    assert request.status == 202
    assert request.headers["Authorization"] == f"Bearer {fake_sendgrid.api_key}"
    [payload] = fake_sendgrid.payloads
    assert validate_mail_send(payload) == []

    assert payload["from"] == {"email": "billing@acme.example", "name": "Acme, Inc. — Facturation"}
    assert payload["reply_to"] == {"email": "support@acme.example"}
    assert payload["subject"] == email.subject
    [personalization] = payload["personalizations"]
    assert personalization["to"] == [{"email": "alice@customer.example"}, {"email": "Bob@customer.example"}]
    assert personalization["cc"] == [{"email": "accounts@customer.example"}]
    assert "bcc" not in personalization
    assert payload["content"] == [
        {"type": "text/plain", "value": email.text},
        {"type": "text/html", "value": email.html},
    ]
    assert [
        (a["filename"], a["type"], a["disposition"], base64.b64decode(a["content"])) for a in payload["attachments"]
    ] == [
        ("invoice-2024-001.pdf", "application/pdf", "attachment", PDF),
        ("relevé janvier.csv", "text/csv", "attachment", CSV),
    ]
    assert payload["headers"]["Message-ID"] == MESSAGE_ID
    assert payload["headers"]["X-Relance-Kind"] == "invoice_reminder"
    assert payload["custom_args"] == {
        MESSAGE_ID_ARG: MESSAGE_ID,
        "kind": "invoice_reminder",
        "email_key": "0123456789abcdef",
    }


async def test_sendgrid_idn_and_1000_recipients(fake_sendgrid: FakeSendGrid) -> None:
    to = ["Jean@Bücher.Example"] + [f"r{i}@customer.example" for i in range(999)]
    transport = SendGridTransport(fake_sendgrid.api_key, base_url=fake_sendgrid.url, timeout=5)
    await transport.send(make_email(to=to, cc=[]))
    [payload] = fake_sendgrid.payloads
    recipients = payload["personalizations"][0]["to"]
    assert len(recipients) == 1000
    assert recipients[0] == {"email": "Jean@xn--bcher-kva.example"}


def http_date(timestamp: float) -> str:
    return format_datetime(datetime.fromtimestamp(timestamp, UTC), usegmt=True)


@pytest.mark.parametrize(
    "status,headers,error,retry_after",
    [
        (429, lambda now: {"Retry-After": "7"}, RetryableDeliveryError, 7.0),
        (429, lambda now: {"Retry-After": http_date(now + 90)}, RetryableDeliveryError, 90.0),
        (429, lambda now: {"X-RateLimit-Reset": str(int(now + 60))}, RetryableDeliveryError, 60.0),
        (429, lambda now: {}, RetryableDeliveryError, None),
        (500, lambda now: {}, RetryableDeliveryError, None),
        (502, lambda now: {}, RetryableDeliveryError, None),
        (503, lambda now: {"Retry-After": "30"}, RetryableDeliveryError, 30.0),
        (400, lambda now: {}, PermanentDeliveryError, None),
        (401, lambda now: {}, PermanentDeliveryError, None),
        (403, lambda now: {}, PermanentDeliveryError, None),
        (404, lambda now: {}, PermanentDeliveryError, None),
        (413, lambda now: {}, PermanentDeliveryError, None),
    ],
    ids=[
        "429-seconds",
        "429-http-date",
        "429-ratelimit-reset",
        "429-bare",
        "500",
        "502",
        "503-retry-after",
        "400",
        "401",
        "403",
        "404",
        "413",
    ],
)
async def test_sendgrid_statuses_are_classified(
    fake_sendgrid: FakeSendGrid,
    status: int,
    headers: Callable[[float], dict[str, str]],
    error: type[DeliveryError],
    retry_after: float | None,
) -> None:
    fake_sendgrid.queue(status, headers=headers(time.time()))
    transport = SendGridTransport(fake_sendgrid.api_key, base_url=fake_sendgrid.url, timeout=5)
    with pytest.raises(error) as info:
        await transport.send(make_email())
    assert type(info.value) is error
    assert info.value.status == status
    # The account's problems (key, permissions, sender) hold every email; the others are the email's.
    assert info.value.credentials_refused == (status in (401, 403))
    if isinstance(info.value, RetryableDeliveryError):
        if retry_after is None:
            assert info.value.retry_after is None
        else:
            assert info.value.retry_after == pytest.approx(retry_after, abs=3)
    assert fake_sendgrid.api_key not in str(info.value)
    assert fake_sendgrid.payloads == []


async def test_sendgrid_provider_error_text_is_quoted_and_truncated(fake_sendgrid: FakeSendGrid) -> None:
    fake_sendgrid.queue(
        400,
        errors=[
            {"field": "attachments.0.content", "message": "The attachment content must be base64 encoded."},
            {"field": None, "message": "x" * 1000},
        ],
    )
    transport = SendGridTransport(fake_sendgrid.api_key, base_url=fake_sendgrid.url, timeout=5)
    with pytest.raises(PermanentDeliveryError) as info:
        await transport.send(make_email())
    text = str(info.value)
    assert "(400)" in text
    assert "attachments.0.content: The attachment content must be base64 encoded." in text
    assert len(text) < 400


async def test_sendgrid_bad_key_is_permanent_and_says_so(fake_sendgrid: FakeSendGrid) -> None:
    wrong_key = "SG.wrong-key.never-shown"
    transport = SendGridTransport(SecretStr(wrong_key), base_url=fake_sendgrid.url, timeout=5)
    with pytest.raises(PermanentDeliveryError) as info:
        await transport.send(make_email())
    assert info.value.status == 401
    assert "API key" in str(info.value)
    assert "authorization grant is invalid" in str(info.value)
    for shown in (str(info.value), repr(info.value), repr(transport), str(transport)):
        assert wrong_key not in shown
    assert fake_sendgrid.requests[0].status == 401


async def test_sendgrid_timeout_is_retryable(fake_sendgrid: FakeSendGrid) -> None:
    fake_sendgrid.queue(202, delay=3.0)
    transport = SendGridTransport(fake_sendgrid.api_key, base_url=fake_sendgrid.url, timeout=0.5)
    started = time.monotonic()
    with pytest.raises(RetryableDeliveryError, match="unreachable"):
        await transport.send(make_email())
    assert time.monotonic() - started < 2.5


async def test_sendgrid_connection_refused_is_retryable() -> None:
    transport = SendGridTransport("SG.key", base_url=f"http://127.0.0.1:{free_port()}", timeout=2)
    with pytest.raises(RetryableDeliveryError, match="unreachable"):
        await transport.send(make_email())


async def test_sendgrid_schema_invalid_payload_is_rejected_end_to_end(
    fake_sendgrid: FakeSendGrid, monkeypatch: pytest.MonkeyPatch
) -> None:
    # If the transport ever built a payload SendGrid would refuse, the fake says so.
    def broken_payload(email: OutgoingEmail) -> dict[str, Any]:
        payload = build_payload(email)
        del payload["personalizations"][0]["to"]
        return payload

    monkeypatch.setattr(sendgrid_module, "build_payload", broken_payload)
    transport = SendGridTransport(fake_sendgrid.api_key, base_url=fake_sendgrid.url, timeout=5)
    with pytest.raises(PermanentDeliveryError, match="'to' is a required property") as info:
        await transport.send(make_email())
    assert info.value.status == 400


async def test_sendgrid_never_logs_the_key_or_recipients(
    fake_sendgrid: FakeSendGrid, caplog: pytest.LogCaptureFixture
) -> None:
    transport = SendGridTransport(fake_sendgrid.api_key, base_url=fake_sendgrid.url, timeout=5)
    with caplog.at_level(logging.DEBUG):
        await transport.send(make_email())
        fake_sendgrid.queue(500)
        with pytest.raises(RetryableDeliveryError):
            await transport.send(make_email())
    assert fake_sendgrid.api_key not in caplog.text
    assert "alice@customer.example" not in caplog.text


def test_retry_after_parsing() -> None:
    now = 1_700_000_000.0
    assert retry_after_seconds({"Retry-After": "12"}, now=now) == 12.0
    assert retry_after_seconds({"Retry-After": " 1.5 "}, now=now) == 1.5
    assert retry_after_seconds({"Retry-After": http_date(now + 120)}, now=now) == pytest.approx(120)
    assert retry_after_seconds({"Retry-After": http_date(now - 120)}, now=now) == 0.0
    assert retry_after_seconds({"X-RateLimit-Reset": str(int(now + 42))}, now=now) == pytest.approx(42)
    assert retry_after_seconds({"Retry-After": "soon", "X-RateLimit-Reset": str(int(now + 5))}, now=now) == 5
    assert retry_after_seconds({"Retry-After": "soon"}, now=now) is None
    assert retry_after_seconds({}, now=now) is None


# ---- The fake itself: its validation must be real ------------------------------------


def post_json(fake: FakeSendGrid, payload: Any, key: str | None = None) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        fake.url + "/v3/mail/send",
        data=json.dumps(payload).encode(),
        headers={"Authorization": f"Bearer {key or fake.api_key}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, {}
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def minimal_payload(**extra: Any) -> dict[str, Any]:
    return {
        "personalizations": [{"to": [{"email": "alice@customer.example"}]}],
        "from": {"email": "billing@acme.example"},
        "subject": "Hello",
        "content": [{"type": "text/plain", "value": "Hello"}],
        **extra,
    }


def test_fake_accepts_a_valid_payload_with_custom_args_object(fake_sendgrid: FakeSendGrid) -> None:
    # custom_args as an object of strings: the spec says "string", the API and the
    # official library use an object; the fake widens exactly that field.
    status, _ = post_json(fake_sendgrid, minimal_payload(custom_args={"relance_message_id": "<a@b>"}))
    assert status == 202
    assert fake_sendgrid.payloads[0]["custom_args"] == {"relance_message_id": "<a@b>"}


@pytest.mark.parametrize(
    "payload,field",
    [
        ({k: v for k, v in minimal_payload().items() if k != "from"}, None),
        (minimal_payload(personalizations=[{"cc": [{"email": "a@customer.example"}]}]), "personalizations.0"),
        (minimal_payload(personalizations=[{"to": [{"name": "no email"}]}]), "personalizations.0.to.0"),
        (minimal_payload(personalizations=[{"to": [{"email": "not-an-address"}]}]), "personalizations.0.to.0.email"),
        (minimal_payload(content=[{"type": "text/plain", "value": ""}]), "content.0.value"),
        (minimal_payload(subject=""), "subject"),
        (
            minimal_payload(attachments=[{"content": "QQ==", "filename": "a.pdf", "disposition": "sideways"}]),
            "attachments.0.disposition",
        ),
        (minimal_payload(custom_args={"attempt": 1}), "custom_args.attempt"),
        (minimal_payload(categories=["a"] * 11), "categories"),
        # Rules SendGrid documents outside the schema:
        (minimal_payload(personalizations=[]), "personalizations"),
        (
            minimal_payload(
                personalizations=[{"to": [{"email": "a@customer.example"}], "cc": [{"email": "A@customer.example"}]}]
            ),
            "personalizations.0",
        ),
        (
            minimal_payload(personalizations=[{"to": [{"email": f"r{i}@customer.example"} for i in range(1001)]}]),
            "personalizations.0",
        ),
        (
            minimal_payload(content=[{"type": "text/html", "value": "<p>x</p>"}, {"type": "text/plain", "value": "x"}]),
            "content",
        ),
    ],
)
def test_fake_rejects_invalid_payloads_with_400(
    fake_sendgrid: FakeSendGrid, payload: dict[str, Any], field: str | None
) -> None:
    status, body = post_json(fake_sendgrid, payload)
    assert status == 400
    assert body["errors"]
    if field is not None:
        assert field in [e["field"] for e in body["errors"]]
    assert fake_sendgrid.payloads == []


def test_fake_requires_the_bearer_key(fake_sendgrid: FakeSendGrid) -> None:
    status, body = post_json(fake_sendgrid, minimal_payload(), key="SG.other")
    assert status == 401
    assert "authorization grant" in body["errors"][0]["message"]


def test_transport_payload_passes_the_spec_directly() -> None:
    assert validate_mail_send(build_payload(make_email())) == []


# ---- Factory --------------------------------------------------------------------------


def test_factory_builds_each_transport(tmp_path: Path) -> None:
    outbox = build_transport(Config(_env_file=None, transport="outbox", outbox_dir=tmp_path / "o"))
    assert isinstance(outbox, OutboxTransport) and outbox.directory == tmp_path / "o"

    smtp = build_transport(
        Config(
            _env_file=None,
            transport="smtp",
            smtp_host="mail.example",
            smtp_port=587,
            smtp_username="u",
            smtp_password="hunter2",
            smtp_starttls=True,
            smtp_timeout=12,
        )
    )
    assert isinstance(smtp, SmtpTransport)
    assert (smtp.host, smtp.port, smtp.starttls, smtp.use_tls, smtp.timeout) == ("mail.example", 587, True, False, 12)
    assert "hunter2" not in repr(smtp)

    sg = build_transport(
        Config(_env_file=None, transport="sendgrid", sendgrid_api_key="SG.secret-key", sendgrid_base_url="http://x:1/")
    )
    assert isinstance(sg, SendGridTransport)
    assert sg.base_url == "http://x:1"
    assert "SG.secret-key" not in repr(sg) and "SG.secret-key" not in str(vars(sg))


def test_factory_refuses_unusable_configuration() -> None:
    with pytest.raises(ValueError, match="SENDGRID_API_KEY"):
        build_transport(Config(_env_file=None, transport="sendgrid"))
    with pytest.raises(ValueError, match="not both"):
        build_transport(Config(_env_file=None, transport="smtp", smtp_starttls=True, smtp_use_tls=True))
