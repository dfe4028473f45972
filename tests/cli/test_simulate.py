"""The simulator on a scenario with every kind of email (in-process: the CLI path has its
own test in test_cli_e2e.py)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from relance.contracts.kinds import EmailKind
from relance.simulate import Scenario, load_scenario, run_scenario

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "scenario-all-emails.json"
ONE_OFF = EXAMPLE.with_name("scenario-one-off-invoice.json")


async def test_every_kind_of_the_seed_shows_up() -> None:
    emails = await run_scenario(load_scenario(EXAMPLE))
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
    assert all(e.locale == "fr-FR" for e in emails)  # the customer's tag: French words, France's formats
    [credit] = [e for e in emails if e.kind == "credit_note_created"]
    assert credit.attachments == ["credit_note-CN-0001.pdf"]


async def test_invalid_scenario_names_the_problem() -> None:
    raw = load_scenario(EXAMPLE).model_dump(mode="json")
    raw["settings"] = {"send_hour": 42}
    with pytest.raises(Exception) as err:
        await run_scenario(Scenario.model_validate(raw))
    assert "send_hour" in str(err.value)


@pytest.mark.parametrize(("tag", "words"), [("zh-Hant-TW", "發票"), ("es-419", "factura")])
async def test_a_customer_in_any_shipped_locale_in_bcp47(tag: str, words: str) -> None:
    raw = load_scenario(ONE_OFF).model_dump(mode="json", by_alias=True)
    raw["customers"][0]["preferred_locales"] = [tag]
    raw["settings"]["attach_pdf"] = False
    emails = await run_scenario(Scenario.model_validate(raw))
    assert emails and all(e.locale == tag for e in emails)
    assert all(words in (e.subject or "") + e.text for e in emails if e.kind == "invoice_finalized")
