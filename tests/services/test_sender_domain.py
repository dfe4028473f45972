"""Sender-domain verification (relance.services.sender_domain) against a loopback DNS server."""

from __future__ import annotations

import re
import string
import time
from typing import Any

import dns.exception
import dns.resolver
import pytest

from relance.services.sender_domain import (
    DNS_TIMEOUT,
    NOT_FOUND,
    RecordCheck,
    VerificationResult,
    async_resolver_for,
    new_token,
    normalize_domain,
    required_records,
    resolver_for,
    verify_domain,
    verify_domain_async,
)
from tests.support.dns_server import LoopbackDNS, Query

TOKEN = "Zk3v9QpXr2LmN8tYwB4cD6eF1gH5jK7s"
SENDGRID: dict[str, Any] = {
    "spf_include": "sendgrid.net",
    "dkim_target": "s1.domainkey.u1234.wl.sendgrid.net",
}


def good_zone(domain: str = "acme.test", token: str = TOKEN) -> dict[str, list[tuple[str, str]]]:
    return {
        f"_relance.{domain}": [("TXT", f'"relance-verification={token}"')],
        # Apex TXT sets usually hold more than SPF; the check must pick SPF out.
        domain: [
            ("TXT", '"google-site-verification=abc123"'),
            ("TXT", '"v=spf1 include:sendgrid.net ~all"'),
            ("MX", "10 mx.acme.test."),
        ],
        f"s1._domainkey.{domain}": [("CNAME", "s1.domainkey.u1234.wl.sendgrid.net.")],
        f"s2._domainkey.{domain}": [("CNAME", "s2.domainkey.u1234.wl.sendgrid.net.")],
        f"_dmarc.{domain}": [("TXT", '"v=DMARC1; p=none; rua=mailto:dmarc@acme.test"')],
    }


def verify(server: LoopbackDNS, domain: str = "acme.test", token: str = TOKEN, **kwargs: Any) -> VerificationResult:
    options = {**SENDGRID, "timeout": 3.0, **kwargs}
    return verify_domain(
        domain, token, resolver=resolver_for(server.host, server.port), allow_special_use=True, **options
    )


def check(result: VerificationResult, name: str) -> RecordCheck:
    (found,) = [c for c in result.checks if c.record.name == name]
    return found


# -- the records to add ------------------------------------------------------------------


def test_records_to_add_for_a_sendgrid_sender() -> None:
    records = required_records("Acme.COM.", TOKEN, **SENDGRID)
    assert [(r.purpose, r.type, r.name, r.value, r.required) for r in records] == [
        ("ownership", "TXT", "_relance.acme.com", f"relance-verification={TOKEN}", True),
        ("spf", "TXT", "acme.com", "v=spf1 include:sendgrid.net ~all", True),
        ("dkim", "CNAME", "s1._domainkey.acme.com", "s1.domainkey.u1234.wl.sendgrid.net", True),
        ("dkim", "CNAME", "s2._domainkey.acme.com", "s2.domainkey.u1234.wl.sendgrid.net", True),
        ("dmarc", "TXT", "_dmarc.acme.com", "v=DMARC1; p=none", False),
    ]


def test_without_a_provider_only_ownership_and_dmarc_are_asked_for() -> None:
    records = required_records("acme.com", TOKEN)
    assert [(r.purpose, r.required) for r in records] == [("ownership", True), ("dmarc", False)]


def test_idn_domain_records_use_punycode() -> None:
    records = required_records("Bücher.example", TOKEN)
    assert records[0].name == "_relance.xn--bcher-kva.example"
    assert normalize_domain("BÜCHER.example") == "xn--bcher-kva.example"


def test_new_token_is_url_safe_and_fresh() -> None:
    tokens = {new_token() for _ in range(50)}
    assert len(tokens) == 50
    for token in tokens:
        assert len(token) == 32
        assert set(token) <= set(string.ascii_letters + string.digits + "-_")
        required_records("acme.com", token)  # accepted by the validation it will meet


@pytest.mark.parametrize(
    "kwargs",
    [
        {"dkim_target": "dkim.sendgrid.net"},  # not the s1 target: no way to derive s2
        {"dkim_target": "s1"},
        {"spf_include": "include:sendgrid.net"},
        {"spf_include": ""},
    ],
)
def test_malformed_provider_settings_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(next(iter(kwargs.values()))))):
        required_records("acme.com", TOKEN, **kwargs)


def test_provider_hosts_may_contain_underscores() -> None:
    (_, spf, _) = required_records("acme.com", TOKEN, spf_include="_spf.google.com")
    assert spf.value == "v=spf1 include:_spf.google.com ~all"


@pytest.mark.parametrize("token", ["", "short", 'with"quote' * 3, "x" * 129, "white space in token!!"])
def test_malformed_token_is_refused(token: str) -> None:
    with pytest.raises(ValueError, match="token"):
        required_records("acme.com", token)


# -- verification ------------------------------------------------------------------------


def test_all_records_present_is_verified() -> None:
    with LoopbackDNS(good_zone()) as server:
        result = verify(server)
    assert result.verified
    assert result.domain == "acme.test"
    assert result.failures == []
    assert all(c.ok and c.error is None for c in result.checks)
    assert sorted(check(result, "acme.test").found) == [
        "google-site-verification=abc123",
        "v=spf1 include:sendgrid.net ~all",
    ]
    assert check(result, "s2._domainkey.acme.test").found == ["s2.domainkey.u1234.wl.sendgrid.net"]
    assert {(q.name, q.type) for q in server.queries} == {
        ("_relance.acme.test", "TXT"),
        ("acme.test", "TXT"),
        ("s1._domainkey.acme.test", "CNAME"),
        ("s2._domainkey.acme.test", "CNAME"),
        ("_dmarc.acme.test", "TXT"),
    }


def test_wrong_token_fails_the_ownership_check() -> None:
    with LoopbackDNS(good_zone(token="an-old-token-from-last-year-0000")) as server:
        result = verify(server)
    assert not result.verified
    assert [(c.record.purpose, c.error) for c in result.failures] == [("ownership", "wrong verification token")]
    assert check(result, "_relance.acme.test").found == ["relance-verification=an-old-token-from-last-year-0000"]


def test_ownership_found_among_other_txt_records_and_with_literal_quotes() -> None:
    zone = good_zone()
    # Some DNS consoles keep the quotes the user typed as part of the text.
    zone["_relance.acme.test"] = [("TXT", '"old=1"'), ("TXT", f'"\\"relance-verification={TOKEN}\\""')]
    with LoopbackDNS(zone) as server:
        assert verify(server).verified


def test_txt_split_across_strings_is_joined() -> None:
    zone = good_zone()
    zone["_relance.acme.test"] = [("TXT", f'"relance-verifi" "cation={TOKEN[:10]}" "{TOKEN[10:]}"')]
    zone["acme.test"] = [("TXT", '"v=spf1 include:send" "grid.net ~all"')]
    with LoopbackDNS(zone) as server:
        result = verify(server)
    assert result.verified, result.failures
    assert check(result, "_relance.acme.test").found == [f"relance-verification={TOKEN}"]
    assert check(result, "acme.test").found == ["v=spf1 include:sendgrid.net ~all"]


def test_missing_dkim_record_is_named() -> None:
    zone = good_zone()
    del zone["s2._domainkey.acme.test"]
    with LoopbackDNS(zone) as server:
        result = verify(server)
    assert not result.verified
    assert [(c.record.name, c.error) for c in result.failures] == [("s2._domainkey.acme.test", NOT_FOUND)]


def test_dkim_cname_pointing_elsewhere_fails() -> None:
    zone = good_zone()
    zone["s1._domainkey.acme.test"] = [("CNAME", "s1.domainkey.u9999.wl.sendgrid.net.")]
    with LoopbackDNS(zone) as server:
        result = verify(server)
    assert not result.verified
    (failure,) = result.failures
    assert failure.record.name == "s1._domainkey.acme.test"
    assert failure.error == "points to s1.domainkey.u9999.wl.sendgrid.net, expected s1.domainkey.u1234.wl.sendgrid.net"


def test_dkim_published_as_txt_instead_of_cname_is_not_found() -> None:
    zone = good_zone()
    zone["s1._domainkey.acme.test"] = [("TXT", '"v=DKIM1; k=rsa; p=MIIB"')]
    with LoopbackDNS(zone) as server:
        result = verify(server)
    assert [(c.record.name, c.error) for c in result.failures] == [("s1._domainkey.acme.test", NOT_FOUND)]


@pytest.mark.parametrize(
    ("spf", "error"),
    [
        ('"v=spf1 include:_spf.google.com ~all"', "SPF record does not include sendgrid.net"),
        ('"v=spf1 ~all include:sendgrid.net"', "comes after 'all'"),
        ('"v=spf1 -include:sendgrid.net ~all"', "qualifier '-'"),
        ('"v=spf1 include:sendgrid.net.evil.test ~all"', "does not include sendgrid.net"),
        ('"spf1 include:sendgrid.net ~all"', "no SPF record"),
    ],
)
def test_spf_without_the_include_fails(spf: str, error: str) -> None:
    zone = good_zone()
    zone["acme.test"] = [("TXT", spf)]
    with LoopbackDNS(zone) as server:
        result = verify(server)
    assert not result.verified
    (failure,) = result.failures
    assert failure.record.purpose == "spf"
    assert error in (failure.error or "")


def test_two_spf_records_fail_even_if_one_is_right() -> None:
    zone = good_zone()
    zone["acme.test"] = [("TXT", '"v=spf1 include:sendgrid.net ~all"'), ("TXT", '"v=spf1 mx -all"')]
    with LoopbackDNS(zone) as server:
        result = verify(server)
    assert [c.error for c in result.failures] == ["more than one SPF record: merge them into one"]


@pytest.mark.parametrize("spf", ['"V=SPF1 mx +INCLUDE:SendGrid.net -all"', '"v=spf1 a include:sendgrid.net"'])
def test_spf_include_is_matched_case_insensitively(spf: str) -> None:
    zone = good_zone()
    zone["acme.test"] = [("TXT", spf)]
    with LoopbackDNS(zone) as server:
        assert verify(server).verified


def test_missing_dmarc_alone_still_verifies() -> None:
    zone = good_zone()
    del zone["_dmarc.acme.test"]
    with LoopbackDNS(zone) as server:
        result = verify(server)
    assert result.verified
    dmarc = check(result, "_dmarc.acme.test")
    assert (dmarc.ok, dmarc.error, dmarc.record.required) == (False, NOT_FOUND, False)
    assert result.failures == []


def test_invalid_dmarc_is_reported_but_not_required() -> None:
    zone = good_zone()
    zone["_dmarc.acme.test"] = [("TXT", '"p=reject; v=DMARC1"')]
    with LoopbackDNS(zone) as server:
        result = verify(server)
    assert result.verified
    assert check(result, "_dmarc.acme.test").error == "no DMARC record (v=DMARC1)"


def test_nxdomain_everywhere_is_not_found_not_an_exception() -> None:
    with LoopbackDNS({}) as server:
        result = verify(server)
    assert not result.verified
    assert {c.error for c in result.checks} == {NOT_FOUND}
    assert all(c.found == [] for c in result.checks)


def test_server_answering_nxdomain_for_existing_names() -> None:
    with LoopbackDNS(good_zone()) as server:
        server.fail("nxdomain", "_relance.acme.test")
        result = verify(server)
    assert [(c.record.purpose, c.error) for c in result.failures] == [("ownership", NOT_FOUND)]


def test_silent_server_is_a_quick_timeout() -> None:
    with LoopbackDNS(good_zone()) as server:
        server.fail("timeout")
        started = time.monotonic()
        result = verify(server, timeout=0.4)
        elapsed = time.monotonic() - started
    assert elapsed < 1.5  # the timeout bounds the whole call, not each of the five lookups
    assert not result.verified
    assert {c.error for c in result.checks} == {DNS_TIMEOUT}


def test_one_silent_name_fails_only_its_check() -> None:
    with LoopbackDNS(good_zone()) as server:
        server.fail("timeout", "s1._domainkey.acme.test")
        result = verify(server, timeout=0.5)
    assert not result.verified
    assert check(result, "_relance.acme.test").ok
    assert check(result, "acme.test").ok
    assert check(result, "s1._domainkey.acme.test").error == DNS_TIMEOUT


def test_servfail_is_reported_as_a_server_failure() -> None:
    with LoopbackDNS(good_zone()) as server:
        server.fail("servfail")
        result = verify(server)
    assert not result.verified
    assert {c.error for c in result.checks} == {"DNS server failure (SERVFAIL)"}


def test_record_added_after_a_failed_check_is_seen() -> None:
    zone = good_zone()
    del zone["_relance.acme.test"]
    with LoopbackDNS(zone) as server:
        resolver = resolver_for(server.host, server.port)
        first = verify_domain("acme.test", TOKEN, resolver=resolver, allow_special_use=True, **SENDGRID)
        server.set_records("_relance.acme.test", [("TXT", f'"relance-verification={TOKEN}"')])
        second = verify_domain("acme.test", TOKEN, resolver=resolver, allow_special_use=True, **SENDGRID)
    assert (first.verified, second.verified) == (False, True)


def test_large_answers_are_fetched_over_tcp() -> None:
    zone = good_zone()
    # Well over the 512 bytes a UDP answer may have without EDNS.
    zone["acme.test"] += [("TXT", f'"site-verification-{i}={"x" * 60}"') for i in range(12)]
    with LoopbackDNS(zone) as server:
        result = verify(server)
    assert result.verified
    assert Query("acme.test", "TXT", "tcp") in server.queries


def test_truncated_udp_falls_back_to_tcp() -> None:
    with LoopbackDNS(good_zone(), truncate_udp=True) as server:
        assert verify(server).verified
    assert {q.transport for q in server.queries} == {"udp", "tcp"}


def test_ownership_record_reached_through_a_cname() -> None:
    zone = good_zone()
    # Agencies managing many domains point each one at a record they control.
    zone["_relance.acme.test"] = [("CNAME", "acme.verify.agency.test.")]
    zone["acme.verify.agency.test"] = [("TXT", f'"relance-verification={TOKEN}"')]
    with LoopbackDNS(zone) as server:
        assert verify(server).verified


def test_idn_domain_is_normalised_before_lookup() -> None:
    domain = "xn--bcher-kva.test"
    with LoopbackDNS(good_zone(domain)) as server:
        result = verify(server, domain="Bücher.Test.")
    assert result.verified, result.failures
    assert result.domain == domain
    assert {q.name for q in server.queries} >= {f"_relance.{domain}", domain}


@pytest.mark.parametrize(
    "domain",
    [
        "",
        ".",
        "localhost",
        "a..b",
        "acme",
        "acme.com/",
        "acme.com extra",
        "acme.com\n",
        "acme.com..",
        "-acme.com",
        "billing@acme.com",
        "https://acme.com",
        "[127.0.0.1]",
        "acme\u200b.com",
        "a" * 64 + ".com",
    ],
)
def test_invalid_domain_is_refused_before_any_lookup(domain: str) -> None:
    with LoopbackDNS(good_zone()) as server:
        with pytest.raises(ValueError, match=re.escape(repr(domain)[:60])):
            verify(server, domain=domain)
    assert server.queries == []


def test_special_use_domains_need_opting_in() -> None:
    with pytest.raises(ValueError, match="'acme.test'"):
        verify_domain("acme.test", TOKEN, resolver=resolver_for("127.0.0.1", 9))
    with pytest.raises(ValueError, match="'localhost'"):
        normalize_domain("localhost", allow_special_use=True)


def test_resolver_for_needs_an_ip_address() -> None:
    with pytest.raises(ValueError, match="dns.example"):
        resolver_for("dns.example", 53)


# -- async -------------------------------------------------------------------------------


async def test_async_variant_verifies() -> None:
    with LoopbackDNS(good_zone()) as server:
        result = await verify_domain_async(
            "acme.test",
            TOKEN,
            resolver=async_resolver_for(server.host, server.port),
            allow_special_use=True,
            **SENDGRID,
        )
    assert result.verified
    assert len(result.checks) == 5


async def test_async_timeouts_run_concurrently() -> None:
    with LoopbackDNS(good_zone()) as server:
        server.fail("timeout")
        started = time.monotonic()
        result = await verify_domain_async(
            "acme.test",
            TOKEN,
            resolver=async_resolver_for(server.host, server.port),
            allow_special_use=True,
            timeout=0.4,
            **SENDGRID,
        )
        elapsed = time.monotonic() - started
    assert elapsed < 1.5
    assert {c.error for c in result.checks} == {DNS_TIMEOUT}


# -- the loopback server itself ----------------------------------------------------------


def test_loopback_server_answers_nodata_for_empty_non_terminals() -> None:
    with LoopbackDNS(good_zone()) as server:
        resolver = resolver_for(server.host, server.port)
        with pytest.raises(dns.resolver.NoAnswer):
            resolver.resolve("_domainkey.acme.test.", "TXT", lifetime=2)
        with pytest.raises(dns.resolver.NXDOMAIN):
            resolver.resolve("nowhere.acme.test.", "TXT", lifetime=2)
        answer = resolver.resolve("acme.test.", "MX", lifetime=2)
        assert [r.to_text() for r in answer] == ["10 mx.acme.test."]


def test_loopback_server_stays_silent_over_tcp_too() -> None:
    with LoopbackDNS(good_zone()) as server:
        server.fail("timeout")
        resolver = resolver_for(server.host, server.port)
        started = time.monotonic()
        with pytest.raises(dns.exception.Timeout):
            resolver.resolve("acme.test.", "TXT", tcp=True, lifetime=0.3)
        assert time.monotonic() - started < 1.5
    assert server.queries == [Query("acme.test", "TXT", "tcp")]
