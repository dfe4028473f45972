"""Proving the account controls the domain it wants to send billing email from.

Until `Sender.domain_verified` is true, emails go out from the default sender. The flow:

    token = new_token()                                   # store it with the account
    records = required_records("acme.com", token, spf_include="sendgrid.net",
                               dkim_target="s1.domainkey.u1234.wl.sendgrid.net")
    # ... the user adds the records at their DNS host, then clicks "verify" ...
    result = verify_domain("acme.com", token, spf_include=..., dkim_target=...)
    sender.domain, sender.domain_verified = result.domain, result.verified

`result.checks` says, record by record, what DNS holds and what is wrong, so a UI can
show the user exactly which record to fix. Only `required` records decide `verified`;
DMARC is recommended (Gmail and Yahoo want one from bulk senders) but not required.

Lookups go to the system resolver unless a resolver is passed; `resolver_for(ip, port)`
builds one for a specific server (the tests' loopback server, or a trusted resolver
in production).
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

import dns.asyncresolver
import dns.exception
import dns.inet
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver
from pydantic import BaseModel, ConfigDict

from relance.contracts.addresses import InvalidAddress, normalize_address

RecordType = Literal["TXT", "CNAME"]
Purpose = Literal["ownership", "spf", "dkim", "dmarc"]

OWNERSHIP_LABEL = "_relance"
OWNERSHIP_PREFIX = "relance-verification="
# SendGrid's selectors; it rotates keys between the two, so both must be delegated.
DKIM_SELECTORS = ("s1", "s2")
# p=none only asks for reports: it cannot get legitimate mail rejected by a typo elsewhere.
DMARC_VALUE = "v=DMARC1; p=none"
NOT_FOUND = "not found"
DNS_TIMEOUT = "DNS timeout"

# The longest name we put in front of the domain; the result must still be a legal name.
_LONGEST_PREFIX = f"{DKIM_SELECTORS[0]}._domainkey."
_MAX_NAME = 253
# new_token() makes 32 characters; the range admits tokens made elsewhere but keeps
# anything that would need quoting or escaping in a TXT record out.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,128}")
# Provider host names (SPF includes such as _spf.google.com, DKIM targets) may contain
# underscores, which email addresses may not, so they get this check instead.
_HOST_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
# RFC 7489 §6.4: the version tag comes first and is exactly "DMARC1".
_DMARC = re.compile(r"v\s*=\s*DMARC1\s*(;|$)")


class DnsRecord(BaseModel):
    """One record the user is asked to add at their DNS host."""

    model_config = ConfigDict(frozen=True)

    type: RecordType
    name: str  # fully qualified, ASCII (punycode), without the final dot
    value: str  # for TXT, the text itself: no surrounding quotes
    purpose: Purpose
    required: bool


class RecordCheck(BaseModel):
    record: DnsRecord
    found: list[str]  # what DNS holds at that name and type (TXT strings joined)
    ok: bool
    error: str | None = None


class VerificationResult(BaseModel):
    domain: str  # normalised: store this, not what the user typed
    verified: bool
    checks: list[RecordCheck]

    @property
    def failures(self) -> list[RecordCheck]:
        """The required checks that failed: what stands between the user and `verified`."""
        return [c for c in self.checks if c.record.required and not c.ok]


class InvalidDomain(ValueError):
    def __init__(self, domain: object, reason: str) -> None:
        shown = repr(domain) if len(repr(domain)) <= 120 else repr(domain)[:117] + "..."
        super().__init__(f"invalid sender domain {shown}: {reason}")
        self.domain = domain


def normalize_domain(domain: str, *, allow_special_use: bool = False) -> str:
    """Lowercase ASCII (punycode) form of a domain one could send email from.

    Validation is the one `relance.contracts.addresses` applies to the domain of an address, so a
    domain that passes here is one a From address can use, and the two compare equal.
    `allow_special_use` admits reserved names such as `acme.test` (tests, local setups).
    """
    if not isinstance(domain, str):
        raise InvalidDomain(domain, "not a string")
    # One final dot is how DNS writes a fully qualified name, and DNS consoles show it.
    candidate = domain.removesuffix(".")
    if not candidate:
        raise InvalidDomain(domain, "empty")
    probe = f"postmaster@{candidate}"
    try:
        address = normalize_address(probe, allow_special_use=allow_special_use)
    except InvalidAddress as exc:
        raise InvalidDomain(domain, _domain_reason(probe, exc)) from None
    ascii_domain = address.rpartition("@")[2]
    if "." not in ascii_domain:
        # normalize_address lets "localhost" through as special-use; a bare label is
        # never a sending domain, and DNS search lists would make lookups ambiguous.
        raise InvalidDomain(domain, "a single label is not a sending domain")
    if len(_LONGEST_PREFIX) + len(ascii_domain) > _MAX_NAME:
        raise InvalidDomain(domain, "too long to hold its verification records")
    return ascii_domain


def new_token() -> str:
    """A fresh ownership token (32 URL-safe characters); store it with the account."""
    return secrets.token_urlsafe(24)


def required_records(
    domain: str,
    token: str,
    *,
    dkim_target: str | None = None,
    spf_include: str | None = None,
    allow_special_use: bool = False,
) -> list[DnsRecord]:
    """The records to show the user, in the order they are best added.

    SPF and DKIM records appear only when the sending provider is known: `spf_include`
    is the host its SPF record lives at (`sendgrid.net`), `dkim_target` the CNAME target
    for selector s1 (`s1.domainkey.u1234.wl.sendgrid.net`; the s2 target is derived).
    """
    return _records(
        normalize_domain(domain, allow_special_use=allow_special_use),
        token,
        dkim_target=dkim_target,
        spf_include=spf_include,
    )


def resolver_for(nameserver: str, port: int = 53) -> dns.resolver.Resolver:
    """A resolver that asks only `nameserver` (an IP address) on `port`.

    Ignores /etc/resolv.conf entirely, search domains included.
    """
    return _configure(dns.resolver.Resolver(configure=False), nameserver, port)


def async_resolver_for(nameserver: str, port: int = 53) -> dns.asyncresolver.Resolver:
    """The `verify_domain_async` counterpart of `resolver_for`."""
    return _configure(dns.asyncresolver.Resolver(configure=False), nameserver, port)


def verify_domain(
    domain: str,
    token: str,
    *,
    resolver: dns.resolver.Resolver | None = None,
    dkim_target: str | None = None,
    spf_include: str | None = None,
    timeout: float = 5.0,
    allow_special_use: bool = False,
) -> VerificationResult:
    """Look up every record `required_records` lists and judge each one.

    DNS failures are results, not exceptions: a lookup that times out is a failed check
    with error "DNS timeout". `timeout` bounds the whole call; lookups run one after the
    other, and once it is spent the remaining ones are reported as timeouts unasked.
    Raises ValueError (InvalidDomain) only for a domain, token or provider setting that
    is malformed.
    """
    plan = _plan(domain, token, dkim_target, spf_include, allow_special_use)
    # A fresh resolver has no cache: the user has just added the records and would
    # not understand an answer remembered from before.
    resolver = resolver or dns.resolver.Resolver()
    deadline = time.monotonic() + timeout
    found = []
    for step in plan.steps:
        remaining = deadline - time.monotonic()
        found.append(_lookup(resolver, step.record, remaining) if remaining > 0 else ([], DNS_TIMEOUT))
    return plan.result(found)


async def verify_domain_async(
    domain: str,
    token: str,
    *,
    resolver: dns.asyncresolver.Resolver | None = None,
    dkim_target: str | None = None,
    spf_include: str | None = None,
    timeout: float = 5.0,
    allow_special_use: bool = False,
) -> VerificationResult:
    """`verify_domain` for async callers; the lookups run concurrently, each within `timeout`."""
    plan = _plan(domain, token, dkim_target, spf_include, allow_special_use)
    resolver = resolver or dns.asyncresolver.Resolver()
    found = await asyncio.gather(*(_lookup_async(resolver, s.record, timeout) for s in plan.steps))
    return plan.result(list(found))


# -- records ---------------------------------------------------------------------------


def _records(domain: str, token: str, *, dkim_target: str | None, spf_include: str | None) -> list[DnsRecord]:
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        raise ValueError("invalid verification token: use new_token()")
    records = [
        DnsRecord(
            type="TXT",
            name=f"{OWNERSHIP_LABEL}.{domain}",
            value=OWNERSHIP_PREFIX + token,
            purpose="ownership",
            required=True,
        )
    ]
    if spf_include is not None:
        include = _provider_host(spf_include, "spf_include")
        records.append(
            DnsRecord(type="TXT", name=domain, value=f"v=spf1 include:{include} ~all", purpose="spf", required=True)
        )
    if dkim_target is not None:
        for selector, target in _dkim_targets(dkim_target).items():
            records.append(
                DnsRecord(
                    type="CNAME", name=f"{selector}._domainkey.{domain}", value=target, purpose="dkim", required=True
                )
            )
    records.append(DnsRecord(type="TXT", name=f"_dmarc.{domain}", value=DMARC_VALUE, purpose="dmarc", required=False))
    return records


def _dkim_targets(dkim_target: str) -> dict[str, str]:
    target = _provider_host(dkim_target, "dkim_target")
    first, _, rest = target.partition(".")
    if first != DKIM_SELECTORS[0]:
        # Each selector needs its own key, so one target cannot serve both.
        raise ValueError(
            f"invalid dkim_target {dkim_target!r}: give the target for selector "
            f"{DKIM_SELECTORS[0]}, such as s1.domainkey.u1234.wl.sendgrid.net"
        )
    return {selector: f"{selector}.{rest}" for selector in DKIM_SELECTORS}


def _provider_host(value: str, what: str) -> str:
    host = value.lower().removesuffix(".") if isinstance(value, str) else ""
    labels = host.split(".")
    if len(labels) < 2 or len(host) > _MAX_NAME or not all(_HOST_LABEL.fullmatch(x) for x in labels):
        raise ValueError(f"invalid {what} {value!r}: expected a host name such as sendgrid.net")
    return host


# -- checking --------------------------------------------------------------------------

_Found = tuple[list[str], str | None]  # values at the name, or the lookup's error


@dataclass(frozen=True)
class _Step:
    record: DnsRecord
    judge: Callable[[list[str]], str | None]  # the error, or None if the values are right


@dataclass(frozen=True)
class _Plan:
    domain: str
    steps: list[_Step]

    def result(self, found: list[_Found]) -> VerificationResult:
        checks = []
        for step, (values, error) in zip(self.steps, found, strict=True):
            if error is None:
                error = step.judge(values) if values else NOT_FOUND
            checks.append(RecordCheck(record=step.record, found=values, ok=error is None, error=error))
        verified = all(c.ok for c in checks if c.record.required)
        return VerificationResult(domain=self.domain, verified=verified, checks=checks)


def _plan(domain: str, token: str, dkim_target: str | None, spf_include: str | None, allow_special_use: bool) -> _Plan:
    domain = normalize_domain(domain, allow_special_use=allow_special_use)
    steps = []
    for record in _records(domain, token, dkim_target=dkim_target, spf_include=spf_include):
        if record.purpose == "ownership":
            judge = _ownership_judge(record.value)
        elif record.purpose == "spf" and spf_include is not None:
            judge = _spf_judge(_provider_host(spf_include, "spf_include"))
        elif record.purpose == "dkim":
            judge = _cname_judge(record.value)
        else:
            judge = _dmarc_judge
        steps.append(_Step(record, judge))
    return _Plan(domain, steps)


def _ownership_judge(expected: str) -> Callable[[list[str]], str | None]:
    def judge(values: list[str]) -> str | None:
        # Some DNS consoles store the quotes the user typed as part of the text. The
        # token still proves control of the zone, so that is accepted.
        texts = [v.strip().removeprefix('"').removesuffix('"').strip() for v in values]
        if expected in texts:
            return None
        if any(t.startswith(OWNERSHIP_PREFIX) for t in texts):
            return "wrong verification token"
        return f"no {OWNERSHIP_PREFIX}... value"

    return judge


def _spf_judge(include: str) -> Callable[[list[str]], str | None]:
    wanted = f"include:{include}"

    def judge(values: list[str]) -> str | None:
        spf = [v for v in values if v.lower() == "v=spf1" or v.lower().startswith("v=spf1 ")]
        if not spf:
            return "no SPF record (v=spf1)"
        if len(spf) > 1:
            # RFC 7208 §4.5: receivers treat several SPF records as a permanent error.
            return "more than one SPF record: merge them into one"
        seen_all = False
        for term in spf[0].lower().split()[1:]:
            qualifier = term[0] if term[0] in "+-~?" else ""
            mechanism = term[len(qualifier) :]
            if mechanism == "all":
                seen_all = True
            elif mechanism == wanted:
                if seen_all:
                    return f"{wanted} comes after 'all', where receivers never look"
                if qualifier not in ("", "+"):
                    return f"{wanted} has qualifier {qualifier!r}, so it does not authorise {include}"
                return None
        return f"SPF record does not include {include}: add {wanted} before its 'all'"

    return judge


def _cname_judge(expected: str) -> Callable[[list[str]], str | None]:
    def judge(values: list[str]) -> str | None:
        return None if values == [expected] else f"points to {', '.join(values)}, expected {expected}"

    return judge


def _dmarc_judge(values: list[str]) -> str | None:
    dmarc = [v for v in values if _DMARC.match(v)]
    if not dmarc:
        return "no DMARC record (v=DMARC1)"
    if len(dmarc) > 1:
        # RFC 7489 §6.6.3: with several records, receivers apply no DMARC at all.
        return "more than one DMARC record: keep one"
    return None


# -- DNS -------------------------------------------------------------------------------


def _lookup(resolver: dns.resolver.Resolver, record: DnsRecord, lifetime: float) -> _Found:
    try:
        answer = resolver.resolve(_qname(record), record.type, lifetime=lifetime, search=False)
    except dns.exception.DNSException as exc:
        return [], _lookup_error(exc)
    return _values(answer), None


async def _lookup_async(resolver: dns.asyncresolver.Resolver, record: DnsRecord, lifetime: float) -> _Found:
    try:
        answer = await resolver.resolve(_qname(record), record.type, lifetime=lifetime, search=False)
    except dns.exception.DNSException as exc:
        return [], _lookup_error(exc)
    return _values(answer), None


def _qname(record: DnsRecord) -> dns.name.Name:
    # Absolute, so no search domain from resolv.conf is ever appended.
    return dns.name.from_text(record.name, origin=dns.name.root)


def _values(answer: dns.resolver.Answer) -> list[str]:
    if answer.rdtype == dns.rdatatype.TXT:
        # A TXT record is a list of strings of at most 255 bytes; long values (DKIM keys,
        # long SPF records) arrive split, and their meaning is the concatenation.
        return [b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer]
    return [rdata.target.to_text(omit_final_dot=True).lower() for rdata in answer]


def _lookup_error(exc: dns.exception.DNSException) -> str:
    if isinstance(exc, dns.resolver.NXDOMAIN | dns.resolver.NoAnswer):
        return NOT_FOUND
    if isinstance(exc, dns.exception.Timeout):
        return DNS_TIMEOUT
    if isinstance(exc, dns.resolver.NoNameservers):
        errors = exc.kwargs.get("errors") or []
        reasons = sorted({_server_error(e[3]) for e in errors})
        return f"DNS server failure ({', '.join(reasons)})" if reasons else "DNS server failure"
    return f"DNS error: {exc}"


def _server_error(error: object) -> str:
    # An rcode arrives as its name ("SERVFAIL"); anything else is an exception.
    return error if isinstance(error, str) else type(error).__name__


def _domain_reason(probe: str, exc: InvalidAddress) -> str:
    # The reasons come from email-validator and talk about an address; say "domain".
    reason = str(exc).removeprefix(str(InvalidAddress(probe, "")))
    for old, new in (
        ("The part after the @-sign", "The domain"),
        ("After the @-sign, periods", "Periods"),
        ("An email address", "A domain"),
        ("The email address", "The domain"),
    ):
        reason = reason.replace(old, new)
    return reason


_R = TypeVar("_R", dns.resolver.Resolver, dns.asyncresolver.Resolver)


def _configure(resolver: _R, nameserver: str, port: int) -> _R:
    if not dns.inet.is_address(nameserver):
        raise ValueError(f"nameserver must be an IP address, not {nameserver!r}")
    resolver.nameservers = [dns.nameserver.Do53Nameserver(nameserver, port)]
    return resolver
