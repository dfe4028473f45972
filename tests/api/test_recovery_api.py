"""GET /v1/analytics/recovery, the dashboard's Recovery page and the Prometheus gauges, over
a database filled through the storage functions the activities use (the workflows' side
is tests/services/test_recovery_month.py). Answers worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry, generate_latest

from relance.contracts.events import Invoice
from relance.contracts.models import InvoiceSignal
from relance.services.recovery_metrics import RecoveryCollector
from relance.storage import email_log
from relance.storage.database import session_scope
from relance.storage.invoices import record_invoice_event
from tests.api.test_api import app_for, http_for
from tests.api.test_dashboard import client_for, dashboard_app, log_in
from tests.support.events import invoice
from tests.support.harness import Harness

CUS = "cus_rec_api"


def at(day: int, hour: int) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


def seed(h: Harness) -> None:
    """X: 100.00 EUR finalized 2 March 10:00, due 12 March, the +3 reminder sent 15 March
    09:00, paid 16 March 09:00. Y: 50.00 EUR charged automatically, finalized 5 March 10:00,
    failed 6 March (notice 1 sent), paid 8 March 10:00. Z: 70.00 USD, still open."""
    x = invoice("in_rx", CUS, amount=10000, currency="eur", due=at(12, 12))
    y = invoice("in_ry", CUS, amount=5000, currency="eur", collection_method="charge_automatically")
    z = invoice("in_rz", CUS, amount=7000, currency="usd", due=at(20, 12))

    def paid(obj):
        return dict(obj, status="paid", amount_paid=obj["amount_due"], amount_remaining=0)

    events = [
        ("e1", "invoice.finalized", at(2, 10), x),
        ("e2", "invoice.finalized", at(5, 10), y),
        ("e3", "invoice.finalized", at(10, 10), z),
        ("e4", "invoice.payment_failed", at(6, 10), dict(y, attempt_count=1)),
        ("e5", "invoice.paid", at(16, 9), paid(x)),
        ("e6", "invoice.paid", at(8, 10), paid(y)),
    ]
    emails = [
        ("in_rx:invoice_finalized:finalized", "invoice_finalized", at(2, 10), "sent"),
        ("in_rx:invoice_reminder:due-1773316800:-3", "invoice_reminder", at(9, 9), "sent"),
        ("in_rx:invoice_reminder:due-1773316800:+3", "invoice_reminder", at(15, 9), "sent"),
        ("in_rx:receipt:paid", "receipt", at(16, 9), "sent"),
        ("in_ry:payment_failed:attempt-1", "payment_failed", at(6, 10), "sent"),
        ("in_rz:invoice_finalized:finalized", "invoice_finalized", at(10, 10), "failed"),
    ]
    with session_scope(h.engine) as session:
        for event_id, type_, created, obj in events:
            signal = InvoiceSignal(event_id=event_id, type=type_, created=created, invoice=Invoice.model_validate(obj))
            record_invoice_event(session, signal)
        for key, kind, when, status in emails:
            invoice_id = key.split(":")[0]
            email_log.new_entry(
                session, key=key, kind=kind, customer_id=CUS, invoice_id=invoice_id, scheduled_at=when, status=status
            )


async def test_recovery_api_json_filters_and_errors(harness: Harness) -> None:
    seed(harness)
    async with http_for(app_for(harness)) as http:
        r = await http.get("/v1/analytics/recovery", params={"from": "2026-03-01", "to": "2026-03-31"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["from"], body["to"], body["currency"], body["payments"]) == (
            "2026-03-01",
            "2026-03-31",
            None,
            None,
        )
        eur, usd = body["months"]
        assert (eur["month"], eur["currency"], usd["currency"]) == ("2026-03", "eur", "usd")
        assert eur["invoiced"] == {"count": 2, "amount": 15000}
        assert eur["paid"] == {"count": 2, "amount": 15000}
        assert eur["paid_before_due"] == {"count": 0, "amount": 0}  # X paid after its due date, Y has none
        # X's last email was the +3 reminder, 24 hours before payment; Y's the notice, 48 hours.
        assert [
            (s["key"], s["label"], s["count"], s["amount"], s["median_hours_from_step"]) for s in eur["paid_after_step"]
        ] == [
            ("reminder:+3", "reminder +3 days", 1, 10000, 24.0),
            ("payment_failed:1", "failed-payment notice 1", 1, 5000, 48.0),
        ]
        assert eur["failed"] == eur["recovered_after_failure"] == {"count": 1, "amount": 5000}
        assert eur["recovered_by_retry_alone"] == {"count": 0, "amount": 0}
        assert eur["recovery_rate"] == 1.0
        # Days to pay: Y 3, X 13 days 23 hours (13.96) -> p50 (1st of 2) 3, p90 (2nd) 13.96.
        assert eur["days_to_pay"] == {"p50": 3.0, "p90": 13.96}
        assert usd["open"] == {"count": 1, "amount": 7000} and usd["paid_after_step"] == []
        assert usd["recovery_rate"] is None and usd["days_to_pay"] == {"p50": None, "p90": None}

        r = await http.get(
            "/v1/analytics/recovery",
            params={"from": "2026-03-01", "to": "2026-03-31", "currency": "EUR", "payments": "true"},
        )
        body = r.json()
        assert [m["currency"] for m in body["months"]] == ["eur"]
        assert [(p["invoice_id"], p["step_key"], p["seconds_from_step"]) for p in body["payments"]] == [
            ("in_rx", "reminder:+3", 86400),
            ("in_ry", "payment_failed:1", 172800),
        ]

        r = await http.get("/v1/analytics/recovery", params={"from": "2026-04-01", "to": "2026-03-01"})
        assert r.status_code == 400 and r.json()["error"]["field"] == "from"
        r = await http.get("/v1/analytics/recovery", params={"currency": "euro"})
        assert r.status_code == 400
    async with http_for(app_for(harness), key="wrong") as http:
        assert (await http.get("/v1/analytics/recovery")).status_code == 401


async def test_recovery_page_draws_bars_with_their_numbers_and_no_script(harness: Harness) -> None:
    seed(harness)
    async with client_for(dashboard_app(harness)) as http:
        assert (await log_in(http)).status_code == 303
        r = await http.get("/dashboard/recovery", params={"from": "2026-03-01", "to": "2026-03-31"})
        assert r.status_code == 200, r.text[:500]
        page = r.text
    assert "<script" not in page
    assert 'href="/dashboard/recovery" class="active"' in page
    assert "2026-03 · EUR" in page and "2026-03 · USD" in page
    assert page.count("<svg") == 3  # EUR: steps and outcomes; USD: outcomes (nothing paid)
    # The +3 reminder's bar is the longest of EUR's steps (100.00 of 100.00), the notice's half.
    assert 'width="100.0%"' in page and 'width="50.0%"' in page
    assert "reminder +3 days" in page and "€100.00" in page and "$70.00" in page
    assert "100.0 %" in page  # EUR's recovery rate
    assert "median 3.0, 90th percentile 13.96" in page


def test_prometheus_gauges_per_currency_outcome_and_step(harness: Harness) -> None:
    seed(harness)
    registry = CollectorRegistry()
    registry.register(RecoveryCollector(harness.engine, window=timedelta(days=3650)))
    text = generate_latest(registry).decode()
    for line in (
        'relance_recovery_invoices{currency="eur",outcome="invoiced"} 2.0',
        'relance_recovery_invoices{currency="usd",outcome="open"} 1.0',
        'relance_recovery_amount{currency="eur",outcome="recovered_after_failure"} 5000.0',
        'relance_recovery_paid_after_step{currency="eur",step="reminder:+3"} 1.0',
        'relance_recovery_rate{currency="eur"} 1.0',
    ):
        assert line in text, line
    assert 'relance_recovery_rate{currency="usd"}' not in text  # nothing failed there
    assert "in_rx" not in text and CUS not in text


def test_gauges_survive_a_database_error_and_follow_the_newest_engine(harness: Harness, tmp_path) -> None:
    from relance.services.recovery_metrics import register_recovery_metrics
    from relance.storage.database import get_engine

    seed(harness)
    registry = CollectorRegistry()
    collector = register_recovery_metrics(get_engine(f"sqlite:///{tmp_path / 'gone' / 'x.db'}"), registry)
    collector.window = timedelta(days=3650)
    with collector.engine.begin() as conn:  # a database without the tables: the query fails
        conn.exec_driver_sql("DROP TABLE invoices")
    assert "relance_recovery_invoices" in generate_latest(registry).decode()  # the scrape still answers
    assert register_recovery_metrics(harness.engine, registry) is collector
    assert 'relance_recovery_invoices{currency="eur",outcome="invoiced"} 2.0' in generate_latest(registry).decode()
