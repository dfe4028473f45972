"""The simulator on a scenario with every kind of email (in-process: the CLI path has its
own test in test_cli_e2e.py)."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from relance.contracts.kinds import EmailKind
from relance.simulate import HORIZON_CAP, Scenario, describe_stop, load_scenario, run_scenario, to_table

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "scenario-all-emails.json"
ONE_OFF = EXAMPLE.with_name("scenario-one-off-invoice.json")


async def test_every_kind_of_the_seed_shows_up(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    result = await run_scenario(load_scenario(EXAMPLE))
    emails = result.emails
    assert result.stopped.reason == "until" and result.stopped.pending == []
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
    # The declined charge came just before its invoice's event: which card, and why.
    assert "avec Visa •••• 4242." in failed.text
    assert "Votre banque a refusé le paiement en raison d’un solde insuffisant." in failed.text
    [receipt] = [e for e in emails if e.kind == "receipt"]
    assert "Moyen de paiement\u202f: Visa •••• 4242" in receipt.text
    assert all(e.locale == "fr-FR" for e in emails)  # the customer's tag: French words, France's formats
    [credit] = [e for e in emails if e.kind == "credit_note_created"]
    assert credit.attachments == ["credit_note-CN-0001.pdf"]


async def test_invalid_scenario_names_the_problem() -> None:
    raw = load_scenario(EXAMPLE).model_dump(mode="json")
    raw["settings"] = {"send_hour": 42}
    with pytest.raises(Exception) as err:
        await run_scenario(Scenario.model_validate(raw))
    assert "send_hour" in str(err.value)


# ---- issue 17 §3: with no `until`, every timer the scenario set fires, up to a cap --------


def later_notices(card_exp: tuple[int, int]) -> Scenario:
    """The seed with no `until`: a card expiring `card_exp` (month, year), and a trial that
    ends in September and is never canceled, both long after the last reminder (May 25)."""
    raw = load_scenario(EXAMPLE).model_dump(mode="json")
    raw["until"] = None
    raw["events"] = [e for e in raw["events"] if e["event"]["type"] != "customer.subscription.deleted"]
    for item in raw["events"]:
        obj = item["event"]["data"]["object"]
        if item["event"]["type"] == "payment_method.attached":
            obj["card"]["exp_month"], obj["card"]["exp_year"] = card_exp
        if item["event"]["type"] == "customer.subscription.created":
            obj["trial_end"] = int(datetime(2026, 9, 30, 10, tzinfo=UTC).timestamp())
    return Scenario.model_validate(raw)


async def test_without_until_it_runs_until_every_timer_has_fired() -> None:
    result = await run_scenario(later_notices((1, 2027)))
    at = {e.kind: e.at.isoformat() for e in result.emails}
    # 7 days before the trial ends, 09:00 Paris; the 1st of the expiry month, 09:00 Paris.
    assert at["trial_ending"] == "2026-09-23T07:00:00+00:00"
    assert at["card_expiring"] == "2027-01-01T08:00:00+00:00"
    assert [e.at.isoformat() for e in result.emails if e.kind == "invoice_reminder"][-1] == "2026-05-25T07:00:00+00:00"
    stop = result.stopped
    assert stop.reason == "nothing_pending" and stop.pending == []
    assert stop.at.isoformat() == "2027-01-01T08:00:01+00:00"  # just past the last timer, not beyond
    assert to_table(result).endswith("Stopped at 2027-01-01 08:00 UTC: every timer the scenario set has fired.")


async def test_a_timer_past_the_cap_is_listed_as_pending() -> None:
    scenario = later_notices((3, 2028))
    result = await run_scenario(scenario)
    kinds = {e.kind for e in result.emails}
    assert "trial_ending" in kinds and "card_expiring" not in kinds
    stop = result.stopped
    last_event = max(e.at for e in scenario.events)
    assert stop.reason == "cap" and stop.at == last_event + HORIZON_CAP
    [pending] = stop.pending
    assert (pending.kind, pending.workflow_id, pending.at.isoformat()) == (
        "card_expiring",
        "card-pm_all",
        "2028-03-01T08:00:00+00:00",
    )
    assert describe_stop(stop) == (
        "Stopped at 2027-06-14 08:05 UTC, the cap (400 days after the last event); "
        "still pending: card_expiring (card-pm_all) at 2028-03-01 08:00 UTC."
    )


async def test_a_refund_pairing_window_after_the_last_event_still_closes() -> None:
    # charge.refunded alone, last, without its refund list: its refund email waits out the
    # pairing window for a refund.created that never comes, then goes out for the amount.
    raw = load_scenario(EXAMPLE).model_dump(mode="json")
    raw["until"] = None
    kept = ("customer.created", "invoice.finalized", "charge.refunded")
    raw["events"] = [e for e in raw["events"] if e["event"]["type"] in kept]
    raw["events"][-1]["at"] = "2026-06-01T10:00:00Z"
    charge = raw["events"][-1]["event"]["data"]["object"]
    charge["refunds"]["data"] = []  # the API versions that leave the refunds out
    result = await run_scenario(Scenario.model_validate(raw))
    [refund] = [e for e in result.emails if e.kind == "refund_issued"]
    assert refund.at.isoformat() == "2026-06-01T10:02:00+00:00"
    assert result.stopped.reason == "nothing_pending"


@pytest.mark.parametrize(("tag", "words"), [("zh-Hant-TW", "發票"), ("es-419", "factura")])
async def test_a_customer_in_any_shipped_locale_in_bcp47(tag: str, words: str) -> None:
    raw = load_scenario(ONE_OFF).model_dump(mode="json", by_alias=True)
    raw["customers"][0]["preferred_locales"] = [tag]
    raw["settings"]["attach_pdf"] = False
    emails = (await run_scenario(Scenario.model_validate(raw))).emails
    assert emails and all(e.locale == tag for e in emails)
    assert all(words in (e.subject or "") + e.text for e in emails if e.kind == "invoice_finalized")
