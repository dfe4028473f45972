"""apply_invoice_event on its own (Temporal's ActivityEnvironment, real SQLite and
PostgreSQL): one round trip records the event and answers what the invoice workflow used
to ask in three (the template pins, the webhook subscribers)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from temporalio.testing import ActivityEnvironment

from activities.invoices import InvoiceActivities
from relance.contracts.models import ApplyInvoiceEventRequest
from relance.storage import webhooks_store
from relance.storage.database import get_engine, session_scope
from relance.storage.templates_store import save_version
from tests.support.events import event, invoice, invoice_signal

NOW = datetime(2026, 3, 1, 9, tzinfo=UTC)


def in_run(run_id: str) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, workflow_run_id=run_id)
    return env


@pytest.mark.parametrize("database", ["sqlite_url", "postgres_url"])
def test_one_round_trip_records_pins_and_names_the_subscribers(database: str, request) -> None:
    url = request.getfixturevalue(database)
    engine = get_engine(url)
    inv_id = f"in_apply_{database[:2]}"
    with session_scope(engine) as s:
        paid_hook = webhooks_store.create_endpoint(
            s, url="https://hooks.example.test/paid", event_types=["invoice.paid"]
        )
        everything = webhooks_store.create_endpoint(s, url="https://hooks.example.test/all", event_types=["*"])
        emails = webhooks_store.create_endpoint(s, url="https://hooks.example.test/emails", event_types=["email.sent"])
        version = save_version(s, "invoice_finalized", subject="Invoice {{ invoice.number }}", html="<p>x</p>")
    try:
        _apply_events(engine, inv_id, version, paid_hook.id, everything.id, emails.id)
    finally:  # PostgreSQL's database is shared by the session's tests
        with session_scope(engine) as s:
            for endpoint in (paid_hook, everything, emails):
                webhooks_store.delete_endpoint(s, endpoint.id)


def _apply_events(engine, inv_id: str, version: int, paid_hook: str, everything: str, emails: str) -> None:
    acts = InvoiceActivities(engine)
    obj = invoice(inv_id, due=NOW)
    finalized = invoice_signal(event("invoice.finalized", obj, created=NOW))
    paid = invoice_signal(
        event("invoice.paid", dict(obj, status="paid", amount_paid=obj["amount_due"], amount_remaining=0), created=NOW)
    )
    late_failure = invoice_signal(event("invoice.payment_failed", dict(obj, attempt_count=1), created=NOW))

    first = in_run("run-1").run(
        acts.apply_invoice_event, ApplyInvoiceEventRequest(signal=finalized, pin_templates=True)
    )
    assert (first.state.status, first.state.duplicate) == ("open", False)
    assert first.template_pins is not None and first.template_pins["invoice_finalized"] == version
    # Only "*" of these wants invoice.finalized (other tests' endpoints may share the database).
    assert first.webhook_endpoints is not None
    assert everything in first.webhook_endpoints and not {paid_hook, emails} & set(first.webhook_endpoints)

    settled = in_run("run-1").run(acts.apply_invoice_event, ApplyInvoiceEventRequest(signal=paid))
    assert settled.state.status == "paid" and settled.template_pins is None  # pins only when asked
    assert settled.webhook_endpoints is not None
    assert {paid_hook, everything} <= set(settled.webhook_endpoints) and emails not in settled.webhook_endpoints

    # The same activity retried (its worker died after the commit) is the same application.
    retried = in_run("run-1").run(acts.apply_invoice_event, ApplyInvoiceEventRequest(signal=paid))
    assert not retried.state.duplicate and retried.webhook_endpoints == settled.webhook_endpoints
    # A duplicate Stripe event in a later run owes nothing; nor does a failure after payment.
    again = in_run("run-2").run(acts.apply_invoice_event, ApplyInvoiceEventRequest(signal=paid))
    assert again.state.duplicate and again.webhook_endpoints is None
    late = in_run("run-2").run(acts.apply_invoice_event, ApplyInvoiceEventRequest(signal=late_failure))
    assert late.state.status == "paid" and late.webhook_endpoints is None
