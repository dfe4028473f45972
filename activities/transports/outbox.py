"""Delivery into a directory of .eml files: the default transport, for development and demos.

Each message lands at a name that reads in `ls` order: when the workflow decided to send
it (UTC), its kind, its invoice (or customer) id, then its email key, e.g.
`2026-12-07T030122Z_invoice_finalized_in_demo_1_<key>.eml`. Every part is the same on
every attempt, so an activity retried after a crash finds its earlier file and writes
nothing: the outbox never shows duplicates.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
from datetime import UTC
from pathlib import Path

from activities.transports.base import PermanentDeliveryError, RetryableDeliveryError
from activities.transports.mime import build_message
from relance.contracts.messages import MessageOrigin, OutgoingEmail, SendOutcome

_UNSAFE_FILENAME_CHARS = re.compile(r"[^A-Za-z0-9._@+-]")
_KEY = re.compile(r"[0-9a-f]{16,64}")


def _safe(part: str, limit: int = 64) -> str:
    return _UNSAFE_FILENAME_CHARS.sub("_", part)[:limit] or "_"


def outbox_filename(email: OutgoingEmail) -> str:
    """`<UTC time>_<kind>_<invoice or customer id>_<key>.eml`: sorts by time, and is
    portable (no `:`; ids sanitized, so one may read like another, which the key tells apart).
    A message stored before it had an origin keeps the name it was first written under."""
    origin: MessageOrigin | None = email.origin
    if origin is None:
        return eml_filename(email.message_id)
    key = email.tags.get("email_key", "")
    if not _KEY.fullmatch(key):
        key = hashlib.sha256(email.message_id.encode()).hexdigest()[:32]
    at = origin.at.astimezone(UTC).strftime("%Y-%m-%dT%H%M%SZ")
    subject = origin.invoice_id or origin.customer_id
    return f"{at}_{_safe(origin.kind, 40)}_{_safe(subject)}_{key}.eml"


def eml_filename(message_id: str) -> str:
    """A portable file name for a Message-ID (messages without an origin).

    Sanitizing alone could map two ids to one name (`a/b` and `a_b`), so a hash of the
    exact id is appended; the readable part is only for humans browsing the folder.
    """
    readable = _UNSAFE_FILENAME_CHARS.sub("_", message_id.strip("<>"))[:80].lstrip(".")
    digest = hashlib.sha256(message_id.encode()).hexdigest()[:16]
    return f"{readable}-{digest}.eml"


class OutboxTransport:
    name = "outbox"
    credential_fingerprint = None  # no credentials, nothing to refuse

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def __repr__(self) -> str:
        return f"OutboxTransport({str(self.directory)!r})"

    def path_for(self, email: OutgoingEmail) -> Path:
        return self.directory / outbox_filename(email)

    async def send(self, email: OutgoingEmail) -> SendOutcome:
        try:
            # The outbox never leaves the machine, so reserved domains such as the
            # default sender's `relance.localhost` are fine here.
            msg = build_message(email, allow_special_use=True)
        except ValueError as exc:
            raise PermanentDeliveryError(str(exc)) from exc
        message_id = msg["Message-ID"]
        path = self.path_for(email)
        try:
            await asyncio.to_thread(_write_once, path, msg.as_bytes())
        except OSError as exc:
            # Disk full, permissions, a missing mount: an operator can fix these.
            raise RetryableDeliveryError(f"cannot write to the outbox: {exc}") from exc
        return SendOutcome(provider=self.name, provider_message_id=message_id)


def _write_once(path: Path, data: bytes) -> None:
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    # The temp name does not end in .eml, so anything watching for *.eml never sees a
    # half-written message; os.replace then publishes it in one step. Two concurrent
    # attempts for one id can both get here: the later replace wins with an equivalent
    # message (same Message-ID, only Date differs), which is still one file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; not possible on every platform, and not needed
    # for correctness of the outbox, so failures are ignored.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
