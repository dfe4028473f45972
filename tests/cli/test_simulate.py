"""The simulator on a scenario with every kind of email (in-process: the CLI path has its
own test in test_cli_e2e.py)."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import pytest

from relance.contracts.kinds import EmailKind
from relance.simulate import Scenario, load_scenario, run_scenario

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "scenario-all-emails.json"


async def test_every_kind_of_the_seed_shows_up(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    emails = await run_scenario(load_scenario(EXAMPLE))
    # The SDK core's warning about the test server's capabilities is not printed.
    assert not [r for r in caplog.records if "activity_failure_include_heartbeat" in r.getMessage()]
    counts = Counter(e.kind for e in emails)
    assert set(counts) == {k.value for k in EmailKind}
    # Reminders: due 2026-05-18 (Paris), -3, 0 and +7 at 09:00 local (07:00 UTC in May).
    reminders = [e.at.isoformat() for e in emails if e.kind == "invoice_reminder"]
    assert reminders == ["2026-05-15T07:00:00+00:00", "2026-05-18T07:00:00+00:00", "2026-05-25T07:00:00+00:00"]
    assert counts["refund_issued"] == 1  # refund.created and charge.refunded: one email
    [card] = [e for e in emails if e.kind == "card_expiring"]
    assert card.at.isoformat() == "2026-06-01T07:00:00+00:00"
    [failed] = [e for e in emails if e.kind == "payment_failed"]
    assert "https://atelier-lumiere.fr/billing/cus_all/card" in failed.text
    assert all(e.locale == "fr" for e in emails)
    [credit] = [e for e in emails if e.kind == "credit_note_created"]
    assert credit.attachments == ["credit_note-CN-0001.pdf"]


async def test_invalid_scenario_names_the_problem() -> None:
    raw = load_scenario(EXAMPLE).model_dump(mode="json")
    raw["settings"] = {"send_hour": 42}
    with pytest.raises(Exception) as err:
        await run_scenario(Scenario.model_validate(raw))
    assert "send_hour" in str(err.value)
