"""Settings, logo, sender domain (verified over a loopback DNS server) and recipients:
validation that names the field, and the effect on what is sent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from relance.contracts.account import AccountSettings
from relance.contracts.kinds import EmailKind
from relance.platform.config import Config
from relance.rules.outgoing import sender_for
from relance.services.account import (
    SettingsError,
    logo_data_uri,
    patch_settings,
    set_logo,
    set_recipients,
    set_sender_domain,
    verify_sender_domain,
)
from relance.services.sender_domain import resolver_for
from relance.storage.database import get_engine, session_scope
from relance.storage.settings_store import load_settings
from tests.support.dns_server import LoopbackDNS

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
RELANCE = str(Path(sys.executable).parent / "relance")


@pytest.fixture
def engine(sqlite_url):
    return get_engine(sqlite_url)


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"reminders": [-3, -3]}, "reminders"),
        ({"reminders": [500]}, "reminders"),
        ({"reminders": list(range(11))}, "reminders"),
        ({"send_hour": 25}, "send_hour"),
        ({"send_minute": 60}, "send_minute"),
        ({"send_minute": -1}, "send_minute"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"emails": {"fax_sent": True}}, "emails.fax_sent.[key]"),
        ({"attach_pdf": "sometimes"}, "attach_pdf"),
        ({"sender": {"domain_verified": True}}, "sender.domain_verified"),
        ({"sender": {"from_email": "not an address"}}, "sender.from_email"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_invalid_settings_name_the_field_and_change_nothing(engine, patch, field) -> None:
    with session_scope(engine) as s:
        patch_settings(s, {"send_hour": 7})
    with pytest.raises(SettingsError) as err:
        with session_scope(engine) as s:
            patch_settings(s, patch)
    assert err.value.field == field
    with session_scope(engine) as s:
        current, version = load_settings(s)
    assert current.send_hour == 7 and version == 1


def test_partial_patches_merge_and_bump_the_version(engine) -> None:
    with session_scope(engine) as s:
        patch_settings(s, {"emails": {"receipt": False}, "branding": {"business_name": "Acme"}})
        updated = patch_settings(s, {"reminders": [7, -1, 0], "branding": {"accent_color": "#ff0000"}})
        _, version = load_settings(s)
    assert updated.reminders == [-1, 0, 7]
    assert updated.email_enabled(EmailKind.receipt) is False and updated.email_enabled(EmailKind.invoice_finalized)
    assert updated.branding.business_name == "Acme" and updated.branding.accent_color == "#ff0000"
    assert version == 2


def test_logo_is_embedded_and_validated(engine) -> None:
    assert logo_data_uri(PNG).startswith("data:image/png;base64,")
    with pytest.raises(SettingsError, match="PNG, JPEG or GIF"):
        logo_data_uri(b"<svg onload=alert(1)>")
    with pytest.raises(SettingsError, match="bytes"):
        logo_data_uri(PNG + b"\x00" * 50_000)
    with session_scope(engine) as s:
        uri = set_logo(s, PNG).branding.logo_data_uri
        assert uri is not None and uri.startswith("data:image/png")


def test_custom_domain_is_used_only_once_verified(engine) -> None:
    config = Config(_env_file=None)
    with session_scope(engine) as s:
        settings, records = set_sender_domain(
            s, "Acme-Billing.FR", "Factures@acme-billing.fr", from_name="Acme", spf_include="sendgrid.net"
        )
    assert settings.sender.domain == "acme-billing.fr"
    assert sender_for(settings, config)[0] == config.default_from_email
    zone = {r.name: [(r.type, f'"{r.value}"' if r.type == "TXT" else r.value)] for r in records if r.required}
    with LoopbackDNS(zone) as dns:
        with session_scope(engine) as s:
            result = verify_sender_domain(s, resolver_for(dns.host, dns.port))
            current, _ = load_settings(s)
        assert result.verified
        assert sender_for(current, config)[:2] == ("Factures@acme-billing.fr", "Acme")
        # Records removed later: the next verification takes the domain away again.
        dns.fail("nxdomain")
        with session_scope(engine) as s:
            assert not verify_sender_domain(s, resolver_for(dns.host, dns.port)).verified
            current, _ = load_settings(s)
    assert sender_for(current, config)[0] == config.default_from_email


def test_domain_and_from_address_are_validated(engine) -> None:
    with session_scope(engine) as s:
        with pytest.raises(SettingsError) as err:
            set_sender_domain(s, "localhost", "a@localhost")
        assert err.value.field == "sender.domain"
        with pytest.raises(SettingsError) as err:
            set_sender_domain(s, "acme-billing.fr", "billing@elsewhere.fr")
        assert err.value.field == "sender.from_email"


def test_recipients_validated_and_cleared(engine) -> None:
    with session_scope(engine) as s:
        rec = set_recipients(s, "cus_r1", to=["AP@Acme.fr", "ap@acme.fr", "boss@acme.fr"], cc=["cfo@acme.fr"])
        assert rec.invoice_emails == ["AP@acme.fr", "boss@acme.fr"] and rec.cc_emails == ["cfo@acme.fr"]
        with pytest.raises(SettingsError, match="not-an-address"):
            set_recipients(s, "cus_r1", cc=["not-an-address"])
        rec = set_recipients(s, "cus_r1", to=[])
        assert rec.invoice_emails == [] and rec.cc_emails == ["cfo@acme.fr"]


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, RELANCE_STATE_DIR=str(tmp_path / ".relance"))
    return subprocess.run([RELANCE, *args], env=env, capture_output=True, text=True, timeout=60)


def test_cli_settings_and_recipients(tmp_path: Path) -> None:
    ok = _cli(tmp_path, "settings", "set", "reminders=[-3,0,3]", "emails.receipt=false", "timezone=Europe/Paris")
    assert ok.returncode == 0, ok.stderr
    shown = json.loads(_cli(tmp_path, "settings", "show").stdout)
    assert shown["reminders"] == [-3, 0, 3] and shown["emails"]["receipt"] is False
    assert shown["timezone"] == "Europe/Paris"
    bad = _cli(tmp_path, "settings", "set", "send_hour=25")
    assert bad.returncode == 2 and "send_hour" in bad.stderr
    rec = _cli(tmp_path, "recipients", "cus_cli", "--to", "ap@acme.fr", "--cc", "cfo@acme.fr")
    assert rec.returncode == 0 and "ap@acme.fr" in rec.stdout
    bad = _cli(tmp_path, "recipients", "cus_cli", "--cc", "nope")
    assert bad.returncode == 2 and "nope" in bad.stderr
    AccountSettings.model_validate({k: v for k, v in shown.items() if k != "version"})
    # Advice goes to stderr: stdout stays JSON.
    shown = _cli(tmp_path, "settings", "show")
    assert "note: links.update_payment_url:" in shown.stderr and json.loads(shown.stdout)
    quiet = _cli(tmp_path, "settings", "set", "links.update_payment_url=https://billing.acme.fr/card/{customer_id}")
    assert quiet.returncode == 0 and "links.update_payment_url" not in quiet.stderr, quiet.stderr


@pytest.mark.parametrize(
    ("patch", "advised"),
    [
        ({}, ["links.update_payment_url"]),
        ({"emails": {"card_expiring": False}}, ["links.update_payment_url"]),  # trial_ending still on
        ({"emails": {"card_expiring": False, "trial_ending": False}}, []),
        ({"links": {"update_payment_url": "https://billing.acme.fr/card/{customer_id}"}}, []),
        (
            {
                "links": {"update_payment_url": "https://b.acme.fr/c"},
                "einvoice": {"profile": "en16931"},
                "attach_pdf": False,
            },
            ["attach_pdf"],
        ),
        (
            {"links": {"update_payment_url": "https://b.acme.fr/c"}, "sender": {"from_email": "billing@acme.fr"}},
            ["sender.from_email"],
        ),
        (
            {
                "links": {"update_payment_url": "https://b.acme.fr/c"},
                "sender": {"from_email": "billing@acme.fr", "domain": "acme.fr", "domain_verified": True},
            },
            [],
        ),
        (
            {
                "links": {"update_payment_url": "https://b.acme.fr/c"},
                "sender": {"from_email": "billing@other.fr", "domain": "acme.fr", "domain_verified": True},
            },
            ["sender.from_email"],
        ),
    ],
)
def test_settings_advice_names_what_to_change(patch, advised) -> None:
    from relance.rules.settings_advice import advise

    settings = AccountSettings.model_validate(patch)
    advice = advise(settings)
    assert [a.field for a in advice] == advised
    for a in advice:
        assert a.field in a.message or (a.field == "sender.from_email" and "default sender" in a.message)
    # The sender advice says exactly when sender_for falls back to the default sender.
    config = Config(_env_file=None)
    assert (sender_for(settings, config)[0] == config.default_from_email) == (
        "sender.from_email" in advised or not settings.sender.from_email
    )
