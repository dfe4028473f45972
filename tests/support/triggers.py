"""For each kind of email, events that make Relance send it (used by per-kind tests)."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta

from relance.contracts.kinds import EmailKind
from tests.support.events import event, invoice, stripe_fixtures

DAY = timedelta(days=1)


def triggers(kind: EmailKind, now: datetime, tag: str) -> tuple[list[dict], timedelta]:
    """(events, how long to let the clock run) that end in one email of `kind` for cus_test."""
    inv_id = f"in_{tag}"
    if kind == EmailKind.invoice_finalized:
        return [event("invoice.finalized", invoice(inv_id, due=now + 30 * DAY), created=now)], DAY
    if kind == EmailKind.invoice_reminder:
        return [event("invoice.finalized", invoice(inv_id, due=now + 4 * DAY), created=now)], 5 * DAY
    if kind in (EmailKind.payment_failed, EmailKind.payment_action_required):
        obj = invoice(inv_id, collection_method="charge_automatically", attempt_count=1)
        return [event(f"invoice.{kind.value}", obj, created=now)], DAY
    if kind == EmailKind.receipt:
        obj = invoice(inv_id, collection_method="charge_automatically", status="paid")
        return [event("invoice.paid", obj, created=now)], DAY
    if kind == EmailKind.card_expiring:
        pm = copy.deepcopy(stripe_fixtures()["payment_method"])
        soon = now + 20 * DAY
        pm.update(id=f"pm_{tag}", customer="cus_test")
        pm["card"].update(exp_month=soon.month, exp_year=soon.year)
        return [event("payment_method.attached", pm, created=now)], 40 * DAY
    if kind in (EmailKind.trial_ending, EmailKind.subscription_canceled):
        sub = copy.deepcopy(stripe_fixtures()["subscription"])
        sub.update(id=f"sub_{tag}", customer="cus_test", status="trialing", trial_end=int((now + 10 * DAY).timestamp()))
        events = [event("customer.subscription.created", sub, created=now)]
        if kind == EmailKind.subscription_canceled:
            events.append(
                event(
                    "customer.subscription.deleted",
                    dict(sub, status="canceled", trial_end=None),
                    created=now + timedelta(seconds=1),
                )
            )
        return events, (DAY if kind == EmailKind.subscription_canceled else 10 * DAY)
    if kind == EmailKind.credit_note_created:
        cn = dict(stripe_fixtures()["credit_note"], id=f"cn_{tag}", customer="cus_test")
        return [event("credit_note.created", cn, created=now)], DAY
    assert kind == EmailKind.refund_issued
    refund = dict(stripe_fixtures()["refund"], id=f"re_{tag}", charge=f"ch_{tag}", customer="cus_test")
    return [event("refund.created", refund, created=now)], DAY
