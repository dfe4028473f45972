"""Address normalization and header-text safety (relance.contracts.addresses)."""

from __future__ import annotations

import email
import email.policy
import sys
from email.message import EmailMessage

import pytest

from relance.contracts.addresses import (
    MAX_RECIPIENTS,
    InvalidAddress,
    TooManyRecipients,
    UnsafeHeader,
    check_recipient_count,
    normalize_address,
    normalize_addresses,
    safe_header_text,
)

# The CVE-2024-6923 payload: on Python 3.11.7 the email package writes this subject
# as a Subject header followed by a real "Bcc: x@evil" header.
CVE_PAYLOAD = "=?utf-8?q?Hi=0ABcc:_x@evil?="


def test_idn_domain_is_normalized_to_punycode() -> None:
    assert normalize_address("Jean@Bücher.Example") == "Jean@xn--bcher-kva.example"
    assert normalize_address("jean@xn--bcher-kva.example") == "jean@xn--bcher-kva.example"


def test_plain_address_keeps_local_part_case_and_lowercases_domain() -> None:
    assert normalize_address("Alice.Martin+billing@Example.COM") == "Alice.Martin+billing@example.com"


@pytest.mark.parametrize(
    "addr",
    [
        "",
        "no-at-sign",
        "a@b",
        "a@@example.com",
        "Bob <bob@example.com>",
        "bob@example.com\r\nBcc: x@evil.example",
        "bob@example.com\n",
        " bob@example.com",
        "josé@example.com",  # non-ASCII local part: would need SMTPUTF8
        '"quoted local"@example.com',
        "bob@[192.0.2.1]",
        "bob@relance.localhost",  # special-use domain, refused unless asked for
    ],
)
def test_invalid_addresses_are_refused_and_named(addr: str) -> None:
    with pytest.raises(InvalidAddress) as info:
        normalize_address(addr)
    assert isinstance(info.value, ValueError)
    assert repr(addr)[:100] in str(info.value)


def test_special_use_domains_only_when_allowed() -> None:
    for addr in ("billing@relance.localhost", "alice@acme.test", "dev@localhost"):
        with pytest.raises(InvalidAddress):
            normalize_address(addr)
        assert normalize_address(addr, allow_special_use=True) == addr
    # Still a real syntax check, not a bypass.
    for bad in ("bill ing@relance.localhost", "a@relance..localhost", "a@-x.localhost"):
        with pytest.raises(InvalidAddress):
            normalize_address(bad, allow_special_use=True)
    assert normalize_address("Jean@Bücher.Test", allow_special_use=True) == "Jean@xn--bcher-kva.test"


def test_normalize_addresses_dedupes_case_insensitively_in_order() -> None:
    result = normalize_addresses(
        ["b@example.com", "A@Example.com", "a@example.COM", "B@EXAMPLE.COM", "jean@bücher.de", "JEAN@xn--bcher-kva.de"]
    )
    assert result == ["b@example.com", "A@example.com", "jean@xn--bcher-kva.de"]


def test_normalize_addresses_refuses_a_bare_string_and_any_bad_entry() -> None:
    with pytest.raises(InvalidAddress):
        normalize_addresses("a@example.com")  # a str is an Iterable[str]: only the check refuses it
    with pytest.raises(InvalidAddress, match="not an address"):
        normalize_addresses(["a@example.com", "not an address"])


@pytest.mark.parametrize(
    "text",
    ["Facture n°2024-001 — échéance dépassée", "Reminder: invoice #12 (€1,234.00) is due", "請求書", ""],
)
def test_safe_header_text_accepts_ordinary_text(text: str) -> None:
    assert safe_header_text(text, "Subject") == text


@pytest.mark.parametrize(
    "text",
    [
        "Hello\r\nBcc: x@evil.example",
        "Hello\nBcc: x@evil.example",
        "Hello\rBcc: x@evil.example",
        "Hello\x00",
        "Hello\tworld",
        "Hello\x0bworld",
        "Hello\x85world",  # NEL: str.splitlines() breaks on it
        "Hello\u2028world",
        "Hello\u2029world",
        CVE_PAYLOAD,
        "=?UTF-8?B?SGkKQmNjOiB4QGV2aWw=?=",
        "Invoice =?utf-8?q?x?= paid",
        "=?iso-8859-1?Q?caf=E9?=",
    ],
)
def test_safe_header_text_refuses_control_chars_and_encoded_words(text: str) -> None:
    with pytest.raises(UnsafeHeader) as info:
        safe_header_text(text, "Subject")
    assert isinstance(info.value, ValueError)
    assert info.value.field == "Subject"
    assert "Subject" in str(info.value)


def test_recipient_limit_is_sendgrids() -> None:
    assert MAX_RECIPIENTS == 1000
    assert check_recipient_count(["a@example.com"] * 1000) == 1000
    assert check_recipient_count(["a@example.com"] * 600, ["b@example.com"] * 400) == 1000
    with pytest.raises(TooManyRecipients, match="1001"):
        check_recipient_count(["a@example.com"] * 1001)
    with pytest.raises(TooManyRecipients):
        check_recipient_count(["a@example.com"] * 600, ["b@example.com"] * 401)


@pytest.mark.skipif(sys.version_info >= (3, 11, 10), reason="CVE-2024-6923 is fixed in this Python")
def test_the_cve_payload_really_injects_a_header_on_this_python() -> None:
    # Why safe_header_text exists: the unguarded library turns the subject into a Bcc.
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["To"] = "a@example.com"
    msg["Subject"] = CVE_PAYLOAD + " and some more words to force folding"
    msg.set_content("x")
    parsed = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    assert parsed["Bcc"] is not None
    with pytest.raises(UnsafeHeader):
        safe_header_text(CVE_PAYLOAD + " and some more words to force folding", "Subject")
