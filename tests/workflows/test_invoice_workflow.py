"""The invoice lifecycle end to end on the time-skipping server: real workflows, real
activities (SQLite, Jinja2, WeasyPrint, the outbox transport). Weeks pass in seconds."""

from __future__ import annotations

import io
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from relance.contracts import search_attributes as sa
from relance.contracts.events import InvalidEvent
from relance.contracts.models import InvoiceWorkflowStatus
from tests.support.events import customer, event, invoice
from tests.support.harness import Harness
from tests.support.mail import body_text
from workflows.invoice import InvoiceWorkflow

DAY = timedelta(days=1)


def at_hour(day: datetime, hour: int, tz: str = "UTC") -> datetime:
    local = day.astimezone(ZoneInfo(tz)).date()
    return datetime.combine(local, time(hour), tzinfo=ZoneInfo(tz)).astimezone(UTC)


async def finalize(h: Harness, inv_id: str, due: datetime, **kw) -> dict:
    obj = invoice(inv_id, due=due, **kw)
    await h.send(
        event("customer.created", customer(obj["customer"])), event("invoice.finalized", obj, created=await h.now())
    )
    return obj


async def status_of(h: Harness, invoice_id: str) -> InvoiceWorkflowStatus:
    return await h.temporal.get_workflow_handle(f"invoice-{invoice_id}").query(InvoiceWorkflow.status)


async def test_reminders_before_on_and_after_due_date_at_send_hour(harness: Harness) -> None:
    h = harness
    h.save_settings(timezone="UTC", send_hour=9, reminders=[-3, 0, 7])
    now = await h.now()
    due = at_hour(now + 10 * DAY, 17)
    await finalize(h, "in_rem1", due)

    first = h.sent()
    assert [e.kind for e in first] == ["invoice_finalized"]
    assert first[0].to == ["ada@customer.test"]
    assert [a["kind"] for a in first[0].attachments] == ["invoice"]

    desc = await h.temporal.get_workflow_handle("invoice-in_rem1").describe()
    attrs = desc.typed_search_attributes
    assert attrs.get(sa.INVOICE_ID) == "in_rem1" and attrs.get(sa.CUSTOMER_ID) == "cus_test"
    assert attrs.get(sa.INVOICE_STATUS) == "open" and attrs.get(sa.DUE_AT) == due

    await h.advance(20 * DAY)
    reminders = h.sent("invoice_reminder")
    expected = [at_hour(due + d * DAY, 9) for d in (-3, 0, 7)]
    assert [r.scheduled_at.replace(tzinfo=UTC) for r in reminders] == expected
    # Each reminder is also a real .eml with the PDF attached.
    messages = h.outbox_messages()
    assert len(messages) == 4
    pdfs = [p for m in messages for p in m.iter_attachments() if p.get_content_type() == "application/pdf"]
    assert len(pdfs) == 4


async def test_payment_between_reminders_cancels_the_rest_and_sends_a_receipt(harness: Harness) -> None:
    h = harness
    h.save_settings(reminders=[-3, 0, 7])
    now = await h.now()
    due = now + 5 * DAY
    obj = await finalize(h, "in_paid1", due)
    await h.advance(3 * DAY)  # the -3 reminder went out
    assert len(h.sent("invoice_reminder")) == 1

    paid = dict(obj, status="paid", amount_paid=obj["amount_due"], amount_remaining=0)
    await h.send(event("invoice.paid", paid, created=await h.now()))
    await h.advance(15 * DAY)

    assert len(h.sent("invoice_reminder")) == 1
    receipts = h.sent("receipt")
    assert len(receipts) == 1
    assert sorted(a["kind"] for a in receipts[0].attachments) == ["invoice", "receipt"]
    desc = await h.temporal.get_workflow_handle("invoice-in_paid1").describe()
    assert desc.status == WorkflowExecutionStatus.COMPLETED


async def test_due_date_change_reschedules_reminders(harness: Harness) -> None:
    h = harness
    h.save_settings(reminders=[-1, 0])
    now = await h.now()
    due = at_hour(now + 4 * DAY, 12)
    obj = await finalize(h, "in_move1", due)
    await h.advance(DAY)
    new_due = at_hour(now + 14 * DAY, 12)
    await h.send(event("invoice.updated", dict(obj, due_date=int(new_due.timestamp())), created=await h.now()))
    await h.advance(16 * DAY)
    times = [r.scheduled_at.replace(tzinfo=UTC) for r in h.sent("invoice_reminder")]
    assert times == [at_hour(new_due - DAY, 9), at_hour(new_due, 9)]


async def test_duplicates_and_paid_before_finalized(harness: Harness) -> None:
    h = harness
    now = await h.now()
    obj = invoice("in_ooo1", due=now + 5 * DAY)
    finalized = event("invoice.finalized", obj, created=now)
    paid = event(
        "invoice.paid",
        dict(obj, status="paid", amount_paid=obj["amount_due"], amount_remaining=0),
        created=now + timedelta(minutes=5),
    )
    await h.send(event("customer.created", customer("cus_test")))
    await h.send(paid, paid, finalized, finalized, paid)
    await h.advance(10 * DAY)
    assert [e.kind for e in h.sent()] == ["receipt"]


async def test_created_and_sent_events_add_no_email_of_their_own(harness: Harness) -> None:
    """invoice.created (a draft) sends nothing and plans no reminder; invoice.sent (Stripe
    sent it, or was asked to) sends nothing more; a late invoice.created does not take a
    finalized invoice back to draft."""
    h = harness
    h.save_settings(timezone="UTC", send_hour=9, reminders=[0])
    now = await h.now()
    due = at_hour(now + 5 * DAY, 17)
    draft = invoice("in_draft1", due=due, status="draft")
    await h.send(event("customer.created", customer("cus_test")), event("invoice.created", draft, created=now))
    await h.advance(DAY)
    assert h.sent() == []
    drafted = await status_of(h, "in_draft1")
    assert drafted.status == "draft" and drafted.pending_reminders == []
    opened = dict(draft, status="open")
    await h.send(
        event("invoice.finalized", opened, created=now + DAY),
        event("invoice.sent", opened, created=now + DAY + timedelta(seconds=1)),
        event("invoice.created", draft, created=now),
    )  # Stripe's retry of the first one
    assert [e.kind for e in h.sent()] == ["invoice_finalized"]
    assert (await status_of(h, "in_draft1")).status == "open"
    await h.advance(10 * DAY)
    assert [e.kind for e in h.sent()] == ["invoice_finalized", "invoice_reminder"]


async def test_charge_automatically_failures_action_required_and_receipt(harness: Harness) -> None:
    h = harness
    now = await h.now()
    base = invoice("in_auto1", collection_method="charge_automatically", due=None)
    await h.send(event("customer.created", customer("cus_test")))
    await h.send(event("invoice.finalized", base, created=now))
    fail1 = dict(base, attempt_count=1, next_payment_attempt=int((now + 3 * DAY).timestamp()))
    await h.send(event("invoice.payment_failed", fail1, created=now + timedelta(seconds=1)))
    await h.send(
        event("invoice.payment_action_required", dict(base, attempt_count=2), created=now + timedelta(seconds=2))
    )
    fail2 = dict(base, attempt_count=2, next_payment_attempt=None)
    failed_event = event("invoice.payment_failed", fail2, created=now + timedelta(seconds=3))
    await h.send(failed_event, failed_event)
    await h.send(
        event(
            "invoice.paid",
            dict(base, status="paid", amount_paid=base["amount_due"], amount_remaining=0),
            created=now + timedelta(seconds=4),
        )
    )
    await h.advance(10 * DAY)
    kinds = [e.kind for e in h.sent()]
    assert kinds == ["payment_failed", "payment_action_required", "payment_failed", "receipt"]
    texts = [body_text(m, "plain") for m in h.outbox_messages()]
    assert any("https://pay.example.test/in_auto1" in t for t in texts)


@pytest.mark.parametrize(
    ("event_type", "status"), [("invoice.voided", "void"), ("invoice.marked_uncollectible", "uncollectible")]
)
async def test_void_or_uncollectible_invoice_gets_no_more_reminders(
    harness: Harness, event_type: str, status: str
) -> None:
    h = harness
    h.save_settings(reminders=[0, 3])
    now = await h.now()
    inv_id = f"in_{status[:4]}1"
    obj = await finalize(h, inv_id, now + 2 * DAY)
    await h.send(event(event_type, dict(obj, status=status), created=await h.now()))
    await h.advance(10 * DAY)
    assert [e.kind for e in h.sent()] == ["invoice_finalized"]
    desc = await h.temporal.get_workflow_handle(f"invoice-{inv_id}").describe()
    assert desc.typed_search_attributes.get(sa.INVOICE_STATUS) == status


async def test_charge_automatically_invoice_with_a_due_date_gets_no_reminder(harness: Harness) -> None:
    h = harness
    h.save_settings(reminders=[-3, 0, 7])
    now = await h.now()
    due = now + 5 * DAY
    await finalize(h, "in_autodue1", due, collection_method="charge_automatically")
    await h.advance(due + 8 * DAY - now)  # past the due date + 7 days: every slot passed
    assert h.log() == [] and h.outbox_messages() == []
    status = await h.temporal.get_workflow_handle("invoice-in_autodue1").query(InvoiceWorkflow.status)
    assert status.due_date == datetime.fromtimestamp(int(due.timestamp()), UTC)
    assert status.pending_reminders == []


SUBSCRIPTION_SHAPES: dict[str, dict[str, Any]] = {
    "in_oneoff1": {"parent": None, "subscription": None},
    "in_subold1": {"parent": None, "subscription": "sub_old1"},  # API versions before 2025-03-31
    "in_subnew1": {
        "subscription": None,
        "parent": {"type": "subscription_details", "subscription_details": {"subscription": "sub_new1"}},
    },
}


@pytest.mark.parametrize("remind_subscriptions", [True, False])
async def test_subscription_invoices_are_reminded_unless_turned_off(
    harness: Harness, remind_subscriptions: bool
) -> None:
    h = harness
    h.save_settings(reminders=[0], remind_subscription_invoices=remind_subscriptions)
    now = await h.now()
    for inv_id, shape in SUBSCRIPTION_SHAPES.items():
        await finalize(h, inv_id, now + 3 * DAY, **shape)
    await h.advance(5 * DAY)
    reminded = sorted(e.invoice_id or "" for e in h.sent("invoice_reminder"))
    assert reminded == (sorted(SUBSCRIPTION_SHAPES) if remind_subscriptions else ["in_oneoff1"])
    # The invoice email goes out either way, and a manual reminder still does.
    assert sorted(e.invoice_id or "" for e in h.sent("invoice_finalized")) == sorted(SUBSCRIPTION_SHAPES)
    await h.remind("in_subnew1", "cus_test", request_id="req-sub")
    manual = [e.idempotency_key for e in h.sent("invoice_reminder") if "manual" in e.idempotency_key]
    assert manual == ["in_subnew1:invoice_reminder:manual:req-sub"]


async def test_slot_already_past_at_finalization_is_skipped(harness: Harness) -> None:
    h = harness
    h.save_settings(reminders=[-7, -3, 1])
    now = await h.now()
    due = at_hour(now + 2 * DAY, 12)
    await finalize(h, "in_late1", due)
    await h.advance(5 * DAY)
    reminders = h.sent("invoice_reminder")
    assert [r.scheduled_at.replace(tzinfo=UTC) for r in reminders] == [at_hour(due + DAY, 9)]


async def test_manual_reminder_now(harness: Harness) -> None:
    h = harness
    h.save_settings(reminders=[])
    now = await h.now()
    await finalize(h, "in_man1", now + 30 * DAY)
    await h.remind("in_man1", "cus_test", request_id="req-1")
    await h.remind("in_man1", "cus_test", request_id="req-1")  # a retried request
    manual = h.sent("invoice_reminder")
    assert len(manual) == 1
    assert manual[0].idempotency_key.endswith("manual:req-1")


async def test_turned_off_receipt_is_not_sent_but_logged(harness: Harness) -> None:
    h = harness
    h.save_settings(emails={"receipt": False})
    now = await h.now()
    obj = invoice("in_norc1", collection_method="charge_automatically")
    await h.send(
        event("customer.created", customer("cus_test")), event("invoice.paid", dict(obj, status="paid"), created=now)
    )
    assert h.sent() == []
    assert [(e.kind, e.status) for e in h.log()] == [("receipt", "skipped")]


def pdf_parts(msg) -> list[tuple[str, str]]:
    """(filename, kind) of each application/pdf part, read back with pypdf: the kind is
    the first word of the document's title ("Receipt 2711-4455 – Acme")."""
    parts = []
    for part in msg.walk():
        if part.get_content_type() == "application/pdf":
            assert part.get_content_disposition() == "attachment"
            metadata = PdfReader(io.BytesIO(part.get_content())).metadata
            assert metadata is not None and metadata.title
            parts.append((part.get_filename(), metadata.title.split()[0]))
    return parts


async def test_charge_automatically_receipt_carries_invoice_and_receipt_pdfs(harness: Harness) -> None:
    h = harness
    now = await h.now()
    obj = invoice("in_autorc1", collection_method="charge_automatically", number="AUTO-0042")
    await h.send(event("customer.created", customer("cus_test")), event("invoice.finalized", obj, created=now))
    await h.send(
        event(
            "invoice.paid",
            dict(obj, status="paid", amount_paid=obj["amount_due"], amount_remaining=0),
            created=now + timedelta(seconds=1),
        )
    )
    assert [e.kind for e in h.sent()] == ["receipt"]
    [msg] = h.outbox_messages()
    assert sorted(pdf_parts(msg)) == [("invoice-AUTO-0042.pdf", "Invoice"), ("receipt-AUTO-0042.pdf", "Receipt")]


async def test_attach_pdf_off_sends_invoice_email_and_receipt_without_attachments(harness: Harness) -> None:
    h = harness
    h.save_settings(attach_pdf=False, reminders=[])
    now = await h.now()
    obj = await finalize(h, "in_nopdf1", now + 10 * DAY)
    await h.send(
        event(
            "invoice.paid",
            dict(obj, status="paid", amount_paid=obj["amount_due"], amount_remaining=0),
            created=now + timedelta(seconds=1),
        )
    )
    assert [(e.kind, e.attachments) for e in h.sent()] == [("invoice_finalized", []), ("receipt", [])]
    messages = h.outbox_messages()
    assert len(messages) == 2
    for msg in messages:
        assert list(msg.iter_attachments()) == [] and pdf_parts(msg) == []
        assert ".pdf" not in body_text(msg, "plain")


@pytest.mark.parametrize("reminder_sent_first", [True, False])
async def test_payment_succeeded_counts_as_the_payment(harness: Harness, reminder_sent_first: bool) -> None:
    h = harness
    h.save_settings(reminders=[-3, 0, 7])
    now = await h.now()
    obj = await finalize(h, "in_psucc1", now + 5 * DAY)
    if reminder_sent_first:
        await h.advance(3 * DAY)  # the -3 reminder went out
    paid = dict(obj, status="paid", amount_paid=obj["amount_due"], amount_remaining=0)
    await h.send(event("invoice.payment_succeeded", paid, created=await h.now()))
    await h.advance(15 * DAY)
    assert len(h.sent("invoice_reminder")) == (1 if reminder_sent_first else 0)
    assert len(h.sent("receipt")) == 1
    desc = await h.temporal.get_workflow_handle("invoice-in_psucc1").describe()
    assert desc.status == WorkflowExecutionStatus.COMPLETED
    assert desc.typed_search_attributes.get(sa.INVOICE_STATUS) == "paid"


async def test_a_lifecycle_takes_one_activity_per_event_and_no_lookups(harness: Harness) -> None:
    """What the throughput benchmark measures (docs/benchmarks.md): finalized, then paid.
    Each event is one activity (record, template pins and webhook subscribers together),
    no local activity looks subscribers up, and the search attributes go up once per event."""
    h = harness
    h.save_settings(reminders=[-3, 0, 7])
    now = await h.now()
    due = (now + 10 * DAY).replace(microsecond=0)  # Stripe's dates are whole seconds
    obj = await finalize(h, "in_cmds1", due)
    await h.send(
        event(
            "invoice.paid",
            dict(obj, status="paid", amount_paid=obj["amount_due"], amount_remaining=0),
            created=await h.now(),
        )
    )
    assert [e.kind for e in h.sent()] == ["invoice_finalized", "receipt"]

    history = await h.temporal.get_workflow_handle("invoice-in_cmds1").fetch_history()
    activities = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert [a for a in activities if a != "render_document"] == [
        "apply_invoice_event",
        "plan_reminders",
        "prepare_email",
        "deliver_email",
        "apply_invoice_event",
        "prepare_email",
        "deliver_email",
    ]
    markers = [
        e.marker_recorded_event_attributes.marker_name
        for e in history.events
        if e.HasField("marker_recorded_event_attributes")
    ]
    # No local activity, and no patch check (each costs a marker and Core's
    # TemporalChangeVersion upsert).
    assert markers == []
    upserts = [
        set(e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields)
        for e in history.events
        if e.HasField("upsert_workflow_search_attributes_event_attributes")
    ]
    assert upserts == [
        {"InvoiceId", "CustomerId", "InvoiceStatus", "DueAt"},
        {"InvoiceStatus"},
    ]
    attrs = (await h.temporal.get_workflow_handle("invoice-in_cmds1").describe()).typed_search_attributes
    assert (attrs.get(sa.INVOICE_ID), attrs.get(sa.CUSTOMER_ID)) == ("in_cmds1", "cus_test")
    assert (attrs.get(sa.INVOICE_STATUS), attrs.get(sa.DUE_AT)) == ("paid", due)


@pytest.mark.parametrize(
    ("first", "together"), [("invoice.paid", False), ("invoice.payment_succeeded", False), ("invoice.paid", True)]
)
async def test_paid_and_payment_succeeded_for_one_invoice_send_one_receipt(
    harness: Harness, first: str, together: bool
) -> None:
    h = harness
    now = await h.now()
    obj = invoice("in_twice1", collection_method="charge_automatically", number="TWICE-1")
    paid = dict(obj, status="paid", amount_paid=obj["amount_due"], amount_remaining=0)
    second = "invoice.payment_succeeded" if first == "invoice.paid" else "invoice.paid"
    events = [event(first, paid, created=now), event(second, paid, created=now)]
    await h.send(event("customer.created", customer("cus_test")))
    if together:  # one workflow run takes both
        await h.send(*events)
    else:  # the first run ends with the payment; the second event starts another
        await h.send(events[0])
        assert (
            await h.temporal.get_workflow_handle("invoice-in_twice1").describe()
        ).status == WorkflowExecutionStatus.COMPLETED
        await h.send(events[1])
    assert [(e.kind, e.status) for e in h.log()] == [("receipt", "sent")]
    assert len(h.outbox_messages()) == 1


async def test_recipients_and_locale_from_customer(harness: Harness) -> None:
    h = harness
    now = await h.now()
    cust = customer(
        "cus_fr",
        locales=["fr-FR"],
        invoice_emails=["compta@client.test", "dg@client.test"],
        cc_emails=["cc@client.test"],
    )
    await h.send(event("customer.created", cust, created=now))
    await h.send(event("invoice.finalized", invoice("in_fr1", "cus_fr", due=now + 40 * DAY), created=now))
    [entry] = h.sent()
    assert entry.to == ["compta@client.test", "dg@client.test"]
    assert entry.cc == ["cc@client.test"]
    assert entry.locale == "fr-FR"  # the customer's tag: French words, France's formats
    [msg] = h.outbox_messages()
    assert "compta@client.test" in msg["To"] and "cc@client.test" in msg["Cc"]
    assert "1\u202f234,50\u00a0€" in body_text(msg, "plain")


async def test_reminders_follow_local_time_across_dst(harness: Harness) -> None:
    h = harness
    tz = "Europe/Paris"
    h.save_settings(timezone=tz, send_hour=9, reminders=[-7, 7])
    now = await h.now()
    # Put the due date on a DST change in Paris at least 8 days ahead, so the two
    # reminders straddle it.
    zone = ZoneInfo(tz)
    probe = now + 8 * DAY
    while zone.utcoffset(probe.replace(tzinfo=None)) == zone.utcoffset((probe + DAY).replace(tzinfo=None)):
        probe += DAY
    due = probe
    await h.env.sleep(due - 8 * DAY - now)
    await finalize(h, "in_dst1", due)
    await h.advance(16 * DAY, step=DAY)
    local = [r.scheduled_at.replace(tzinfo=UTC).astimezone(ZoneInfo(tz)) for r in h.sent("invoice_reminder")]
    assert [t.hour for t in local] == [9, 9]
    assert local[0].utcoffset() != local[1].utcoffset()


async def test_invalid_event_is_refused_and_starts_nothing(harness: Harness) -> None:
    h = harness
    bad = event("invoice.finalized", invoice("in_bad1"))
    bad["data"]["object"]["amount_due"] = "lots"
    with pytest.raises(InvalidEvent) as err:
        await h.client.send(bad)
    assert err.value.field == "data.object.amount_due"
    with pytest.raises(RPCError) as missing:
        await h.temporal.get_workflow_handle("invoice-in_bad1").describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND
