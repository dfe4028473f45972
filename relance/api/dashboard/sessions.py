"""Dashboard sessions and CSRF tokens. The cookie is a signed token, not a server-side record:

    <session id>.<expiry, unix seconds>.<HMAC-SHA256(secret, "session|id|expiry")>

with `secret = HMAC-SHA256(api_key, "relance-dashboard-session-v1")`. So sessions
survive an API restart and work across several API processes, they end by themselves
after SESSION_SECONDS, and rotating the API key ends every one of them (a cookie signed
with the old key no longer verifies). The cookie is HttpOnly, SameSite=Strict, scoped to
/dashboard, and Secure when the request came over HTTPS (directly or per
X-Forwarded-Proto). It cannot be used as a bearer token on /v1. Logging out drops the
cookie and puts the session id on a revocation list kept in memory until the token would
have expired anyway (a list per process: with several API processes, a stolen cookie
stays valid on the others until it expires).

CSRF. Every POST carries a token bound to the session, `HMAC(secret, "csrf|" + id)`, in
a hidden `csrf_token` field (or the `X-CSRF-Token` header, for the template preview's
fetch), checked in constant time. SameSite=Strict is a second layer. The login form,
which has no session yet, uses a double-submit token instead (a random value in a
short-lived cookie and in the form)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections import deque
from dataclasses import dataclass, field

from fastapi import Request

from relance.platform.config import Config

SESSION_COOKIE = "relance_session"
LOGIN_COOKIE = "relance_login"
SESSION_SECONDS = 12 * 3600
LOGIN_FORM_SECONDS = 3600
# Failed logins per client address within the window before the form answers 429.
LOGIN_FAILURES = 10
LOGIN_WINDOW_SECONDS = 300


@dataclass(frozen=True)
class DashboardSession:
    sid: str
    expires: int
    csrf: str


@dataclass
class SessionState:
    """Per app, in memory: revoked session ids and recent login failures."""

    revoked: dict[str, int] = field(default_factory=dict)
    failures: dict[str, deque[float]] = field(default_factory=dict)

    def revoke(self, session: DashboardSession) -> None:
        now = int(time.time())
        self.revoked = {sid: exp for sid, exp in self.revoked.items() if exp > now}
        self.revoked[session.sid] = session.expires

    def too_many_failures(self, client: str) -> bool:
        recent = self.failures.get(client)
        if not recent:
            return False
        while recent and recent[0] < time.monotonic() - LOGIN_WINDOW_SECONDS:
            recent.popleft()
        return len(recent) >= LOGIN_FAILURES

    def failed(self, client: str) -> None:
        if len(self.failures) > 10_000:  # bounded, whatever the number of addresses
            self.failures.clear()
        self.failures.setdefault(client, deque(maxlen=LOGIN_FAILURES)).append(time.monotonic())


def state_of(request: Request) -> SessionState:
    state: SessionState | None = getattr(request.app.state, "dashboard", None)
    if state is None:
        state = request.app.state.dashboard = SessionState()
    return state


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def session_secret(config: Config) -> bytes | None:
    """Derived from the API key: no key configured, no dashboard (fail closed)."""
    key = config.api_key.get_secret_value() if config.api_key is not None else ""
    if not key:
        return None
    return hmac.new(key.encode(), b"relance-dashboard-session-v1", hashlib.sha256).digest()


def _mac(secret: bytes, message: str) -> str:
    return _b64(hmac.new(secret, message.encode(), hashlib.sha256).digest())


def _session_of(secret: bytes, sid: str, expires: int) -> DashboardSession:
    return DashboardSession(sid=sid, expires=expires, csrf=_mac(secret, f"csrf|{sid}"))


def issue_session(secret: bytes) -> tuple[str, DashboardSession]:
    sid, expires = secrets.token_urlsafe(18), int(time.time()) + SESSION_SECONDS
    return f"{sid}.{expires}.{_mac(secret, f'session|{sid}|{expires}')}", _session_of(secret, sid, expires)


def read_session(secret: bytes | None, token: str | None, revoked: dict[str, int]) -> DashboardSession | None:
    if secret is None or not token or len(token) > 200:
        return None
    parts = token.split(".")
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    sid, expires_text, mac = parts
    if not hmac.compare_digest(mac, _mac(secret, f"session|{sid}|{expires_text}")):
        return None
    expires = int(expires_text)
    if expires <= time.time() or sid in revoked:
        return None
    return _session_of(secret, sid, expires)


def csrf_matches(presented: str, session: DashboardSession) -> bool:
    return hmac.compare_digest(presented.encode(), session.csrf.encode())


def is_secure(request: Request) -> bool:
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"
