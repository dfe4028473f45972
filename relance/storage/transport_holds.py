"""A circuit breaker for a provider that refuses our credentials.

A 401 from SendGrid is not about the email: every other email would get the same answer.
So the first 401 opens a hold for that provider and key (stored by fingerprint, never the
key itself): later deliveries do not call the provider at all; they stay `pending` and
retry with a long back-off. The hold ends when

- the key changes (the operator fixes RELANCE_SENDGRID_API_KEY and restarts): a worker
  with another key fingerprint is not held, and its first success clears the hold; or
- a probe succeeds: every `probe_every` (RELANCE_HOLD_PROBE_SECONDS) one delivery is let through (the key may have
  been re-enabled on the provider's side), and its success clears the hold.

Nothing is lost: held emails go out once the key works, within their retry back-off, or
fail (and are logged and reported) when their 3-day delivery window ends.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, select

from relance.storage.tables import TransportHoldRecord, as_utc, utcnow


def held(
    session: Session, provider: str, key_fingerprint: str, probe_every: timedelta, *, now: datetime | None = None
) -> TransportHoldRecord | None:
    """The hold that stops this delivery, or None to go ahead. At most one caller per
    probe interval gets None while held (the probe): the row is locked and moved on."""
    now = now or utcnow()
    row = session.exec(
        select(TransportHoldRecord).where(TransportHoldRecord.provider == provider).with_for_update()
    ).first()
    if row is None or row.key_fingerprint != key_fingerprint:
        return None
    if as_utc(row.probe_after) <= now:
        row.probe_after = now + probe_every
        session.add(row)
        return None
    return row


def open_hold(
    session: Session,
    provider: str,
    key_fingerprint: str,
    error: str,
    probe_every: timedelta,
    *,
    now: datetime | None = None,
) -> bool:
    """Record that the provider refused this key. True only for the call that opened the
    hold (the one that raises the alert); a refused probe just moves the next probe on."""
    now = now or utcnow()
    row = session.exec(
        select(TransportHoldRecord).where(TransportHoldRecord.provider == provider).with_for_update()
    ).first()
    if row is not None and row.key_fingerprint == key_fingerprint:
        row.probe_after = now + probe_every
        session.add(row)
        return False
    if row is None:
        row = TransportHoldRecord(provider=provider, key_fingerprint=key_fingerprint, probe_after=now)
    row.key_fingerprint, row.error, row.held_since = key_fingerprint, error[:2000], now
    row.probe_after = now + probe_every
    session.add(row)
    session.flush()
    return True


def clear_hold(session: Session, provider: str) -> bool:
    """The provider accepted a message: whatever hold there was is over."""
    row = session.get(TransportHoldRecord, provider)
    if row is None:
        return False
    session.delete(row)
    return True


def current_hold(session: Session, provider: str) -> TransportHoldRecord | None:
    return session.get(TransportHoldRecord, provider)
