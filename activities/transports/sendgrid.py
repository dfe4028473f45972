"""Delivery through SendGrid's v3 Web API (POST /v3/mail/send), with the official client.

The client is synchronous (urllib), so each send runs in a worker thread. A fresh client
per send: the library mutates its shared header dict on every request, which is not
something to share between threads.

The API key stays a SecretStr until the moment a client is built, and is scrubbed from
any provider text we quote; repr() never shows it.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import logging
import time
from collections.abc import Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

from pydantic import SecretStr
from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import (
    Attachment,
    Cc,
    Content,
    CustomArg,
    Disposition,
    FileContent,
    FileName,
    FileType,
    From,
    Header,
    Mail,
    Personalization,
    ReplyTo,
    Subject,
    To,
)
from sendgrid.helpers.mail.exceptions import SendGridException

from activities.transports.base import (
    DeliveryError,
    PermanentDeliveryError,
    RetryableDeliveryError,
    fingerprint,
)
from activities.transports.mime import tag_header_name, validated_email
from relance.contracts.messages import OutgoingEmail, SendOutcome

# Our idempotency key travels in custom_args, which SendGrid echoes in every Event
# Webhook post: that is how events are matched back to the message we meant to send.
MESSAGE_ID_ARG = "relance_message_id"

_MAX_ERROR_TEXT = 300


class _DropDebugRecords(logging.Filter):
    # python_http_client logs the request headers (Authorization: Bearer <key>) and the
    # whole payload (recipients' addresses) at DEBUG. Neither may reach our logs.
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


logging.getLogger("python_http_client.client").addFilter(_DropDebugRecords())


class SendGridTransport:
    name = "sendgrid"

    def __init__(
        self,
        api_key: SecretStr | str,
        *,
        base_url: str = "https://api.sendgrid.com",
        timeout: float = 30.0,
    ) -> None:
        self._api_key = SecretStr(api_key) if isinstance(api_key, str) else api_key
        if not self._api_key.get_secret_value():
            raise ValueError("SendGrid transport needs an API key (RELANCE_SENDGRID_API_KEY)")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.credential_fingerprint = fingerprint(self._api_key.get_secret_value())

    def __repr__(self) -> str:
        return f"SendGridTransport(base_url={self.base_url!r}, api_key=**********)"

    async def send(self, email: OutgoingEmail) -> SendOutcome:
        try:
            body = build_payload(email)
        except (ValueError, SendGridException) as exc:
            raise PermanentDeliveryError(self._scrub(str(exc))) from exc
        try:
            headers = await asyncio.to_thread(self._post, body)
        except HTTPError as exc:
            # `from None`: the library's exception carries the response body and headers,
            # which are summarized below; there is nothing else worth chaining.
            raise self._classify(exc) from None
        except (OSError, http.client.HTTPException) as exc:
            # URLError, timeouts, refused and reset connections, TLS failures.
            raise RetryableDeliveryError(f"SendGrid unreachable at {self.base_url}: {self._scrub(str(exc))}") from exc
        # 202 queued; 200 in sandbox mode, which sends nothing and returns no id.
        return SendOutcome(provider=self.name, provider_message_id=headers.get("X-Message-Id"))

    def _post(self, body: dict[str, Any]) -> Mapping[str, str]:
        client = SendGridAPIClient(api_key=self._api_key.get_secret_value(), host=self.base_url)
        # client.send() has no timeout parameter; the underlying request does.
        response = client.client.mail.send.post(request_body=body, timeout=self.timeout)
        headers: Mapping[str, str] = response.headers  # untyped library: an HTTPMessage, read as a mapping
        return headers

    def _classify(self, exc: HTTPError) -> DeliveryError:
        status = int(exc.status_code)
        detail = self._scrub(_error_text(exc.body))
        headers = exc.headers if exc.headers is not None else {}
        if status == 429:
            return RetryableDeliveryError(
                f"SendGrid rate limit (429): {detail}",
                status=status,
                retry_after=retry_after_seconds(headers),
            )
        if status >= 500 or status == 408:
            return RetryableDeliveryError(
                f"SendGrid unavailable ({status}): {detail}",
                status=status,
                retry_after=retry_after_seconds(headers),
            )
        if status in (401, 403):
            # 401 is the key itself (wrong, revoked); 403 a key without Mail Send access,
            # a sender address SendGrid has not verified, or an account over its limits.
            # Each is the account's, not the email's: every email would get the same
            # answer, so they are held (one alert) until it is fixed, then all go out.
            return PermanentDeliveryError(
                f"SendGrid refused the API key, its permissions or the sender ({status}); check "
                f"RELANCE_SENDGRID_API_KEY (Mail Send access) and the verified sender: {detail}",
                status=status,
                credentials_refused=True,
            )
        return PermanentDeliveryError(f"SendGrid rejected the message ({status}): {detail}", status=status)

    def _scrub(self, text: str) -> str:
        key = self._api_key.get_secret_value()
        return text.replace(key, "**********") if key else text


def build_payload(email: OutgoingEmail) -> dict[str, Any]:
    """The JSON body of POST /v3/mail/send for this email (validated first)."""
    email = validated_email(email)
    mail = Mail()
    mail.from_email = From(email.from_email, email.from_name)
    mail.subject = Subject(email.subject)

    personalization = Personalization()
    for addr in email.to:
        personalization.add_to(To(addr))
    for addr in email.cc:
        personalization.add_cc(Cc(addr))
    mail.add_personalization(personalization)
    if email.reply_to:
        mail.reply_to = ReplyTo(email.reply_to)

    # SendGrid requires text/plain before text/html and rejects empty values.
    if email.text:
        mail.add_content(Content("text/plain", email.text))
    if email.html:
        mail.add_content(Content("text/html", email.html))
    # Mail.add_attachment inserts at the front of its list: add in reverse to keep order.
    for attachment in reversed(email.attachments):
        mail.add_attachment(
            Attachment(
                FileContent(base64.b64encode(attachment.content).decode("ascii")),
                FileName(attachment.filename),
                FileType(attachment.content_type),
                Disposition("attachment"),
            )
        )

    # SendGrid may replace Message-ID with its own; X-Message-Id is the id it reports.
    mail.add_header(Header("Message-ID", email.message_id))
    mail.add_header(Header("Auto-Submitted", "auto-generated"))
    for key, value in email.tags.items():
        mail.add_header(Header(tag_header_name(key), value))
        mail.add_custom_arg(CustomArg(key, value))
    mail.add_custom_arg(CustomArg(MESSAGE_ID_ARG, email.message_id))
    body: dict[str, Any] = mail.get()  # sendgrid is untyped: Mail.get() builds the v3 JSON body
    return body


def retry_after_seconds(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait, from Retry-After (seconds or HTTP-date) or X-RateLimit-Reset (epoch)."""
    now = time.time() if now is None else now
    value = (headers.get("Retry-After") or "").strip()
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            return max(0.0, when.timestamp() - now)
    reset = (headers.get("X-RateLimit-Reset") or "").strip()
    if reset:
        try:
            return max(0.0, float(reset) - now)
        except ValueError:
            pass
    return None


def _error_text(body: bytes | str | None) -> str:
    """SendGrid's `{"errors": [{"field", "message"}]}`, flattened and truncated."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    body = body or ""
    try:
        errors = json.loads(body).get("errors") or []
        parts = [
            f"{e.get('field')}: {e.get('message')}" if e.get("field") else str(e.get("message"))
            for e in errors
            if isinstance(e, dict)
        ]
        text = "; ".join(parts) or body
    except (ValueError, AttributeError):
        text = body
    text = " ".join(text.split())
    return text if len(text) <= _MAX_ERROR_TEXT else text[: _MAX_ERROR_TEXT - 3] + "..."
