"""Delivery through an SMTP relay (aiosmtplib), one connection per message.

Classification follows the reply codes: 4xx and anything network-shaped is worth
retrying, 5xx is not (550 no such user, 552 too large, 535 authentication failed...).

Recipients refused one by one (RCPT):
- all refused -> an error: Retryable if every refusal was 4xx (greylisting, mailbox
  busy), Permanent as soon as one was 5xx;
- some refused -> the message counts as sent. It is already queued for the others, and
  retrying would send it to them again. SendOutcome has no place for the refusals, so
  they are logged (count and codes, no addresses) as a warning.

A connection lost after DATA but before the server's reply is retried, so a relay that
had in fact queued the message may deliver it twice; SMTP gives no way to know.
"""

from __future__ import annotations

import logging
import ssl

import aiosmtplib
from pydantic import SecretStr

from activities.transports.base import (
    DeliveryError,
    PermanentDeliveryError,
    RetryableDeliveryError,
    fingerprint,
)
from activities.transports.mime import build_message, validated_email
from relance.contracts.messages import OutgoingEmail, SendOutcome

log = logging.getLogger(__name__)


class SmtpTransport:
    name = "smtp"

    def __init__(
        self,
        host: str,
        port: int = 25,
        *,
        username: str | None = None,
        password: SecretStr | str | None = None,
        starttls: bool = False,
        use_tls: bool = False,
        timeout: float = 30.0,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        if starttls and use_tls:
            raise ValueError("choose STARTTLS or implicit TLS (use_tls), not both")
        self.host = host
        self.port = port
        self.username = username
        self._password = SecretStr(password) if isinstance(password, str) else password
        self.starttls = starttls
        self.use_tls = use_tls
        self.timeout = timeout
        self.tls_context = tls_context
        self.credential_fingerprint = (
            fingerprint(f"{host}:{port}:{username}:{self._password.get_secret_value() if self._password else ''}")
            if username
            else None
        )

    def __repr__(self) -> str:
        mode = "tls" if self.use_tls else "starttls" if self.starttls else "plain"
        return f"SmtpTransport({self.host!r}, {self.port}, {mode}, username={self.username!r})"

    async def send(self, email: OutgoingEmail) -> SendOutcome:
        try:
            # Reserved domains (.localhost, .test) are allowed: development relays such
            # as Mailpit take anything, and a real relay answers 5xx itself.
            email = validated_email(email, allow_special_use=True)
            msg = build_message(email, allow_special_use=True)
        except ValueError as exc:
            raise PermanentDeliveryError(str(exc)) from exc

        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self._password.get_secret_value() if self._password else None,
            use_tls=self.use_tls,
            # False, not None: aiosmtplib's None means "upgrade if offered", which fails
            # on relays with self-signed certificates that the operator never asked for.
            start_tls=self.starttls,
            timeout=self.timeout,
            tls_context=self.tls_context,
        )
        try:
            async with client:
                refused, _ = await client.sendmail(email.from_email, [*email.to, *email.cc], msg.as_bytes())
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise _all_refused(exc) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise _from_reply(exc.code, exc.message) from exc
        except (aiosmtplib.SMTPTimeoutError, aiosmtplib.SMTPServerDisconnected, OSError) as exc:
            # OSError covers refused/reset connections, DNS failures and TLS handshakes.
            raise RetryableDeliveryError(f"SMTP {self.host}:{self.port}: {exc}") from exc
        except aiosmtplib.SMTPException as exc:
            # What remains is configuration: STARTTLS asked for but not offered, etc.
            raise PermanentDeliveryError(f"SMTP {self.host}:{self.port}: {exc}") from exc

        if refused:
            codes = sorted({response.code for response in refused.values()})
            log.warning(
                "SMTP relay refused %d of %d recipients of %s (codes %s); sent to the others",
                len(refused),
                len(email.to) + len(email.cc),
                email.message_id,
                codes,
            )
        return SendOutcome(provider=self.name, provider_message_id=email.message_id)


def _from_reply(code: int, message: str) -> RetryableDeliveryError | PermanentDeliveryError:
    text = f"SMTP {code} {message}".strip()
    if code == 535:
        text = f"SMTP authentication failed (check the username and password): {text}"
    if 500 <= code < 600:
        return PermanentDeliveryError(text, status=code, credentials_refused=code == 535)
    # 4xx, and anything a confused server might send.
    return RetryableDeliveryError(text, status=code)


def _all_refused(exc: aiosmtplib.SMTPRecipientsRefused) -> DeliveryError:
    codes = [r.code for r in exc.recipients]
    permanent = [c for c in codes if 500 <= c < 600]
    text = f"SMTP relay refused all {len(codes)} recipients (codes {sorted(set(codes))})"
    if permanent:
        return PermanentDeliveryError(text, status=permanent[0])
    return RetryableDeliveryError(text, status=codes[0] if codes else None)
