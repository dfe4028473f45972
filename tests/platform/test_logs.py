"""JSON logs (RELANCE_LOG_FORMAT=json): a real lifecycle logged through the same setup the
CLI uses, every line one JSON object with the email's and the activity's identity, and
never a configured secret or a word of the email."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from pydantic import SecretStr
from temporalio import activity, workflow

from relance.platform.config import Config, LogFormat
from relance.platform.logs import REDACTED, configure_from, configured_secrets, setup_logging
from tests.support.events import customer, event, invoice
from tests.support.harness import Harness
from tests.support.mail import body_text

SENDGRID_KEY = "SG.metrics-test-key.Zm9vYmFyYmF6cXV4"
SMTP_PASSWORD = "correct horse battery staple"
ENCRYPTION_KEY = "k1:" + "A" * 43 + "="


@contextmanager
def root_logging() -> Iterator[None]:
    """Whatever a test does to the root logger, pytest's handlers and level come back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        activity.logger.activity_info_on_message = workflow.logger.workflow_info_on_message = True


def logged(fmt: LogFormat, emit: Callable[[], None], secrets: tuple[str, ...] = ()) -> str:
    buffer = io.StringIO()
    with root_logging():
        setup_logging(fmt, logging.INFO, secrets=secrets, stream=buffer)
        emit()
    return buffer.getvalue()


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The root logger as the CLI sets it up (JSON, INFO, the secrets of a config that has
    them), into a buffer."""
    config = Config(
        _env_file=None,
        log_format="json",
        sendgrid_api_key=SecretStr(SENDGRID_KEY),
        smtp_password=SecretStr(SMTP_PASSWORD),
        encryption_keys=SecretStr(ENCRYPTION_KEY),
    )
    buffer = io.StringIO()
    with root_logging():
        configure_from(config, default_level=logging.INFO).setStream(buffer)
        yield buffer


def lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]  # every line parses, or this fails


async def test_lifecycle_logs_json_with_context_and_no_secret_or_body(harness: Harness, captured: io.StringIO) -> None:
    h = harness
    h.save_settings(attach_pdf=False)
    now = await h.now()
    obj = invoice("in_logs1", "cus_logs")
    await h.send(
        event("customer.created", customer("cus_logs"), created=now), event("invoice.finalized", obj, created=now)
    )
    # A library (or a careless line) logging a secret is blanked all the same.
    logging.getLogger("relance.test").warning("connecting with %s and %s", SENDGRID_KEY, SMTP_PASSWORD)

    records = lines(captured.getvalue())
    assert records and all({"time", "level", "logger", "message"} <= r.keys() for r in records)
    assert all(r["time"].endswith("Z") and "T" in r["time"] for r in records)
    [sent] = [r for r in records if r["logger"] == "relance.delivery" and r.get("status") == "sent"]
    assert sent["invoice_id"] == "in_logs1" and sent["customer_id"] == "cus_logs"
    assert sent["kind"] == "invoice_finalized" and sent["transport"] == "outbox"
    # Logged from the deliver activity: its identity comes along.
    assert sent["activity_type"] == "deliver_email" and sent["attempt"] == 1
    assert sent["workflow_id"] == "invoice-in_logs1" and sent["run_id"]

    text = captured.getvalue()
    [message] = h.outbox_messages()
    body = body_text(message, "plain")
    words = [line.strip() for line in body.splitlines() if len(line.strip()) >= 20]
    assert words and not [w for w in words if w in text]
    assert message["Subject"] not in text and "<html" not in text and "ada@customer.test" not in text
    for secret in (SENDGRID_KEY, SMTP_PASSWORD, ENCRYPTION_KEY, ENCRYPTION_KEY.split(":", 1)[1]):
        assert secret not in text
    assert text.count(REDACTED) == 2


def test_a_message_cannot_forge_a_line() -> None:
    forged = '{"time": "2026-01-01T00:00:00Z", "level": "CRITICAL", "logger": "relance", "message": "forged"}'
    text = logged(
        LogFormat.json,
        lambda: logging.getLogger("relance.test").info(
            "customer text: %s", f"x\n{forged}\r\n", extra={"kind": f"receipt\n{forged}"}
        ),
    )
    [line] = text.splitlines()
    record = json.loads(line)
    assert record["message"] == f"customer text: x\n{forged}\r\n" and record["kind"] == f"receipt\n{forged}"


def test_only_named_context_fields_are_copied() -> None:
    def emit() -> None:
        log = logging.getLogger("relance.test")
        log.info("sent", extra={"invoice_id": "in_1", "html": "<p>body</p>", "color_message": "\x1b[32msent"})
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            log.exception("failed")

    first, second = lines(logged(LogFormat.json, emit))
    assert first == {
        "time": first["time"],
        "level": "INFO",
        "logger": "relance.test",
        "message": "sent",
        "invoice_id": "in_1",
    }
    assert second["level"] == "ERROR" and "RuntimeError: boom" in second["exception"]


def test_secrets_come_from_every_secret_setting() -> None:
    config = Config(
        _env_file=None,
        api_key=SecretStr("api-key-123456"),
        temporal_api_key=SecretStr("tmprl-abcdef"),
        stripe_webhook_secret=SecretStr("whsec_abcdef"),
        encryption_keys=SecretStr(ENCRYPTION_KEY),
        smtp_password=SecretStr("short"),
    )  # too short to blank without mangling words
    assert set(configured_secrets(config)) == {
        "api-key-123456",
        "tmprl-abcdef",
        "whsec_abcdef",
        ENCRYPTION_KEY,
        ENCRYPTION_KEY.split(":", 1)[1],
    }


def test_text_format_keeps_todays_lines_and_blanks_secrets() -> None:
    text = logged(
        LogFormat.text,
        lambda: logging.getLogger("relance.worker").info("password is %s", SMTP_PASSWORD),
        secrets=(SMTP_PASSWORD,),
    )
    assert text.rstrip().endswith(f" INFO relance.worker: password is {REDACTED}")


def test_a_quoted_recipient_address_is_masked_in_failure_lines() -> None:
    """Relays quote the address they refuse; the log line keeps its domain only."""
    from relance.platform.metrics import FailureReason
    from relance.services import outcomes

    ref = outcomes.EmailRef(key="in_1:receipt:paid", kind="receipt", customer_id="cus_1", invoice_id="in_1")
    text = logged(
        LogFormat.json,
        lambda: outcomes.failed(
            ref,
            FailureReason.rejected,
            "SMTP 550 5.1.1 <Zoe.Martin+billing@acme-client.fr>: Recipient address rejected",
        ),
    )
    [line] = lines(text)
    assert "zoe.martin" not in text.lower() and "billing@" not in text
    assert "<***@acme-client.fr>: Recipient address rejected" in line["message"]
    assert (line["invoice_id"], line["customer_id"], line["reason"]) == ("in_1", "cus_1", "rejected")
