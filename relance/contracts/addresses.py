"""Email addresses and header text that are safe to put on the wire.

Everything that ends up in a header passes through here, at the edge (API, forms) and
again in each transport, because a header is where user text can turn into extra
recipients. This Python (3.11.7) has CVE-2024-6923: the `email` package writes an
encoded word such as `=?utf-8?q?Hi=0ABcc:_x@evil?=` as a real `Bcc:` header, so
encoded words are refused outright, not just CR and LF.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

# SendGrid accepts at most 1,000 recipients per message; SMTP servers commonly cap lower,
# but one limit everywhere keeps a message deliverable whichever transport is chosen.
MAX_RECIPIENTS = 1000

# RFC 2047 encoded words. Anything that merely looks like one is refused: a decoder
# that is laxer than this pattern is exactly the kind of bug the CVE was.
_ENCODED_WORD = re.compile(r"=\?.*?\?=", re.DOTALL)

# Not Unicode control characters, but `str.splitlines()` (which the email package
# uses while folding) treats them as line breaks.
_LINE_BREAKS = {"\u2028", "\u2029"}

# A suffix that is never special-use, to get email-validator's syntax checks on a
# domain it would otherwise refuse for being special-use (see normalize_address).
_NEUTRAL_SUFFIX = ".example"


class InvalidAddress(ValueError):
    def __init__(self, address: object, reason: str) -> None:
        super().__init__(f"invalid email address {_shown(address)}: {reason}")
        self.address = address


class UnsafeHeader(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"unsafe value for header {field}: {reason}")
        self.field = field


class TooManyRecipients(ValueError):
    def __init__(self, count: int) -> None:
        super().__init__(f"{count} recipients; at most {MAX_RECIPIENTS} per message")
        self.count = count


def normalize_address(addr: str, *, allow_special_use: bool = False, strict: bool = True) -> str:
    """Validate one bare address (no display name) and return its wire form.

    IDN domains are accepted and returned in ASCII (punycode), so headers and SMTP
    envelopes never need SMTPUTF8. Non-ASCII local parts are refused for the same
    reason: neither SendGrid nor most relays take them.

    `allow_special_use` admits reserved domains such as `relance.localhost` (the default
    sender) or `*.test`, which can never be delivered on the internet but are normal in
    a local outbox or a development SMTP server.

    `strict` adds RFC 5321's 64-octet limit on the local part. Off only to re-read values
    stored without that check (see relance.contracts.events.EDGE).
    """
    if not isinstance(addr, str):
        raise InvalidAddress(addr, "not a string")
    try:
        return _validated(addr, strict)
    except EmailNotValidError as exc:
        if allow_special_use and _is_special_use(addr):
            try:
                # email-validator has no per-call switch for special-use names, so
                # validate the same address under a neutral suffix and strip it again.
                return _validated(addr + _NEUTRAL_SUFFIX, strict).removesuffix(_NEUTRAL_SUFFIX)
            except EmailNotValidError as inner:
                raise InvalidAddress(addr, str(inner)) from None
        raise InvalidAddress(addr, str(exc)) from None


def normalize_addresses(addrs: Iterable[str], *, allow_special_use: bool = False, strict: bool = True) -> list[str]:
    """Normalize each address and drop case-insensitive duplicates, keeping first order."""
    if isinstance(addrs, str):
        # A lone string would otherwise be iterated character by character.
        raise InvalidAddress(addrs, "expected a list of addresses, got one string")
    seen: set[str] = set()
    result: list[str] = []
    for addr in addrs:
        normalized = normalize_address(addr, allow_special_use=allow_special_use, strict=strict)
        key = normalized.casefold()
        if key not in seen:
            seen.add(key)
            result.append(normalized)
    return result


def check_recipient_count(*groups: Iterable[str]) -> int:
    """Raise TooManyRecipients if To + Cc (+ ...) together exceed MAX_RECIPIENTS."""
    count = sum(len(list(group)) for group in groups)
    if count > MAX_RECIPIENTS:
        raise TooManyRecipients(count)
    return count


def safe_header_text(value: str, field: str) -> str:
    """Return `value` unchanged if it can go into header `field` as plain text.

    Refuses CR, LF, every other control character, Unicode line separators, and
    anything shaped like an RFC 2047 encoded word. Non-ASCII text is fine: the email
    library encodes it itself, which is the only encoding we trust.
    """
    if not isinstance(value, str):
        raise UnsafeHeader(field, "not a string")
    for char in value:
        if char in _LINE_BREAKS or unicodedata.category(char) == "Cc":
            raise UnsafeHeader(field, f"control character {char!r}")
    if _ENCODED_WORD.search(value):
        raise UnsafeHeader(field, "RFC 2047 encoded word ('=?...?=')")
    return value


def _validated(addr: str, strict: bool = True) -> str:
    # strict: RFC 5321's 64-octet limit on the local part too (not only 254 in all),
    # which relays enforce and the default mode does not.
    info = validate_email(addr, check_deliverability=False, allow_smtputf8=False, strict=strict)
    return info.ascii_email or info.normalized


def _is_special_use(addr: str) -> bool:
    domain = addr.rpartition("@")[2].rstrip(".").lower()
    return any(domain == name or domain.endswith("." + name) for name in SPECIAL_USE_DOMAIN_NAMES)


def _shown(value: object) -> str:
    # repr makes injected control characters visible; the cap keeps junk out of logs.
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."
