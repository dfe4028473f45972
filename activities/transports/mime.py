"""OutgoingEmail -> RFC 5322 message, with every header value checked again here.

Callers validate too, but this is the last point before bytes leave the process, and
this Python (3.11.7) turns an encoded word in a header into real headers (CVE-2024-6923).
So every transport, MIME or not, goes through `validated_email` first.

Structure: multipart/alternative(text, html), wrapped in multipart/mixed only when
there are attachments. There is never a Bcc header.
"""

from __future__ import annotations

import email.policy
import re
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage

from relance.contracts.addresses import (
    UnsafeHeader,
    check_recipient_count,
    normalize_address,
    normalize_addresses,
    safe_header_text,
)
from relance.contracts.messages import Attachment, OutgoingEmail

# SMTP: CRLF line endings and ASCII-only headers (non-ASCII text becomes encoded words
# written by the library itself). raise_on_defect turns any header the parser finds
# malformed into an error instead of a silently "repaired" header.
POLICY = email.policy.SMTP.clone(raise_on_defect=True)

TAG_HEADER_PREFIX = "X-Relance-"

# dot-atom on both sides of the @ (RFC 5322 msg-id without obsolete forms).
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_MESSAGE_ID = re.compile(rf"<{_ATEXT}(?:\.{_ATEXT})*@{_ATEXT}(?:\.{_ATEXT})*>")
_TAG_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}")
# Tags are machine identifiers (kind, invoice number...): printable ASCII keeps them
# out of any header encoding, and the cap keeps SendGrid's custom_args budget safe.
_TAG_VALUE = re.compile(r"[\x20-\x7e]{0,200}")
_CONTENT_TYPE = re.compile(r"[a-z0-9][a-z0-9.+-]*/[a-z0-9][a-z0-9.+-]*")


def validated_email(email: OutgoingEmail, *, allow_special_use: bool = False) -> OutgoingEmail:
    """Return a copy with normalized addresses and checked header text, or raise ValueError.

    Cc addresses already in To are dropped: a recipient listed twice gets the message
    twice over SMTP, and SendGrid rejects the whole request.
    """
    to = normalize_addresses(email.to, allow_special_use=allow_special_use)
    if not to:
        raise ValueError("email has no To recipient")
    in_to = {addr.casefold() for addr in to}
    cc = [
        addr
        for addr in normalize_addresses(email.cc, allow_special_use=allow_special_use)
        if addr.casefold() not in in_to
    ]
    check_recipient_count(to, cc)

    subject = safe_header_text(email.subject, "Subject")
    if not subject.strip():
        raise UnsafeHeader("Subject", "empty")
    if not (email.text or email.html):
        raise ValueError("email has neither a text nor an HTML body")

    return email.model_copy(
        update={
            "message_id": format_message_id(email.message_id),
            "from_email": normalize_address(email.from_email, allow_special_use=allow_special_use),
            "from_name": safe_header_text(email.from_name, "From") if email.from_name else None,
            "to": to,
            "cc": cc,
            "reply_to": (
                normalize_address(email.reply_to, allow_special_use=allow_special_use) if email.reply_to else None
            ),
            "subject": subject,
            "attachments": [_checked_attachment(a) for a in email.attachments],
            "tags": {key: _checked_tag(key, value) for key, value in email.tags.items()},
        }
    )


def format_message_id(message_id: str) -> str:
    """`<left@right>`, adding the angle brackets if the caller left them out."""
    safe_header_text(message_id, "Message-ID")
    candidate = message_id.strip()
    if not candidate.startswith("<"):
        candidate = f"<{candidate}>"
    if len(candidate) > 250 or not _MESSAGE_ID.fullmatch(candidate):
        raise UnsafeHeader("Message-ID", f"not an RFC 5322 msg-id: {message_id[:80]!r}")
    return candidate


def tag_header_name(key: str) -> str:
    """invoice_id -> X-Relance-Invoice-Id (underscores upset some MTAs in header names)."""
    return TAG_HEADER_PREFIX + "-".join(p.capitalize() for p in re.split(r"[_-]", key) if p)


def build_message(
    email: OutgoingEmail, *, allow_special_use: bool = False, date: datetime | None = None
) -> EmailMessage:
    """The complete message. Serialize with `msg.as_bytes()` (CRLF, policy SMTP)."""
    email = validated_email(email, allow_special_use=allow_special_use)
    msg = EmailMessage(policy=POLICY)
    msg["From"] = Address(display_name=email.from_name or "", addr_spec=email.from_email)
    msg["To"] = ", ".join(email.to)
    if email.cc:
        msg["Cc"] = ", ".join(email.cc)
    if email.reply_to:
        msg["Reply-To"] = email.reply_to
    msg["Subject"] = email.subject
    msg["Date"] = date or datetime.now(UTC)
    msg["Message-ID"] = email.message_id
    # RFC 3834: tells auto-responders (vacation replies) not to answer billing mail.
    msg["Auto-Submitted"] = "auto-generated"
    for key, value in email.tags.items():
        msg[tag_header_name(key)] = value

    if email.text:
        msg.set_content(email.text)
        if email.html:
            msg.add_alternative(email.html, subtype="html")
    else:
        msg.set_content(email.html, subtype="html")
    for attachment in email.attachments:
        maintype, subtype = attachment.content_type.split("/")
        msg.add_attachment(attachment.content, maintype=maintype, subtype=subtype, filename=attachment.filename)
    return msg


def _checked_attachment(attachment: Attachment) -> Attachment:
    name = safe_header_text(attachment.filename, "attachment filename")
    if not name.strip() or len(name) > 255 or any(c in name for c in "/\\"):
        raise UnsafeHeader("attachment filename", f"not a plain file name: {name[:80]!r}")
    content_type = attachment.content_type.strip().lower()
    if not _CONTENT_TYPE.fullmatch(content_type):
        raise UnsafeHeader("Content-Type", f"not a MIME type: {content_type[:80]!r}")
    return attachment.model_copy(update={"content_type": content_type})


def _checked_tag(key: str, value: str) -> str:
    field = f"tag {key[:40]!r}"
    if not isinstance(key, str) or not _TAG_KEY.fullmatch(key):
        raise UnsafeHeader(field, "tag keys are 1-40 of A-Z a-z 0-9 _ -")
    if not isinstance(value, str) or not _TAG_VALUE.fullmatch(value):
        raise UnsafeHeader(field, "tag values are at most 200 printable ASCII characters")
    return safe_header_text(value, field)
