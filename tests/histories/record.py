"""Record the histories replayed by tests/workflows/test_replay.py.

    .venv/bin/python -m tests.histories.record

Runs one canonical scenario per workflow path on the time-skipping server with a real
worker, then writes each workflow's history as JSON next to this file. Record again only
when a change is *meant* to alter what workflows do, behind `workflow.patched(...)`, and
keep the old files too, renamed `<stem>-before_<change>.json` and named in the patch's
entry in workflows/patches.py: running workflows recorded with the old code must still
replay. This script never overwrites them, and test_replay compares each with the
current scenario it descends from (its commands may differ only behind a new patch
marker).
"""

from __future__ import annotations

import asyncio
import copy
import tempfile
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from sqlalchemy.engine import Engine
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from activities.transports.outbox import OutboxTransport
from activities.webhooks import event_id_for
from relance.client import RelanceClient
from relance.contracts.models import RetentionInput
from relance.platform.clock import advance, settle
from relance.platform.config import Config
from relance.platform.temporal_client import DATA_CONVERTER
from relance.platform.time_skipping import start_time_skipping
from relance.services.operator_emails import check_resend, check_test, resend_request, test_request
from relance.storage import email_log, webhooks_store
from relance.storage.database import get_engine, session_scope
from tests.support.events import charge as charge_of
from tests.support.events import customer, event, invoice, stripe_fixtures
from worker.main import build_worker, ensure_search_attributes
from workflows.ids import operator_email_workflow_id
from workflows.patches import PATCHES
from workflows.retention import RetentionWorkflow

HERE = Path(__file__).resolve().parent
DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)

# Histories recorded before a change, kept so that workflows running then still replay:
# {kept file stem: the current scenario's stem}.
LEGACY = {name.removesuffix(".json"): name.split("-before_")[0] for patch in PATCHES for name in patch.histories}


class Receiver:
    """A webhook receiver on 127.0.0.1: /ok answers 200, /refuse answers 400."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(200 if self.path == "/ok" else 400)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def paid(obj: dict) -> dict:
    return dict(obj, status="paid", amount_paid=obj["amount_due"], amount_remaining=0)


async def scenarios(
    env: WorkflowEnvironment, client: RelanceClient, engine: Engine, receiver: Receiver
) -> dict[str, WorkflowHistory]:
    """Returns {file stem: history}."""
    ids: set[str] = set()

    async def send(*events):
        for ev in events:
            ids.update(a.workflow_id for a in await client.send(ev))
        await settle(env.client, ids)

    # Which reminder slots a scenario reaches depends on the time of day it starts (slots
    # are at the send hour, local time), and the server's clock starts at the real time:
    # every run starts at 21:45 UTC, the time of day the histories were recorded at, so
    # the fingerprints compared by test_replay do not depend on when CI runs.
    start = await env.get_current_time()
    aligned = start.replace(hour=21, minute=45, second=0, microsecond=0)
    await env.sleep((aligned if aligned > start else aligned + DAY) - start)
    now = await env.get_current_time()
    await send(event("customer.created", customer("cus_rec"), created=now))
    # send_invoice: invoice email, reminders before and on the due date, a moved due date, paid.
    inv = invoice("in_rec_reminders", "cus_rec", due=now + 5 * DAY)
    await send(event("invoice.finalized", inv, created=now))
    await advance(env, ids, 2 * DAY)
    await send(event("invoice.updated", dict(inv, due_date=int((now + 6 * DAY).timestamp())), created=now + 2 * DAY))
    await advance(env, ids, 4 * DAY)
    await client.send_reminder_now("in_rec_reminders", "cus_rec", "manual-1")
    await settle(env.client, ids)
    await send(event("invoice.paid", paid(inv), created=now + 7 * DAY))
    # charge_automatically: failure, 3D Secure, paid.
    auto = invoice("in_rec_auto", "cus_rec", collection_method="charge_automatically")
    t = await env.get_current_time()
    await send(
        event("invoice.finalized", auto, created=t),
        event("invoice.payment_failed", dict(auto, attempt_count=1), created=t + timedelta(seconds=1)),
        event("invoice.payment_action_required", dict(auto, attempt_count=2), created=t + timedelta(seconds=2)),
        event("invoice.paid", paid(auto), created=t + timedelta(seconds=3)),
    )
    # Payments: a failed charge of an invoice never heard of (its notice finds no workflow);
    # then a failure notice and a receipt that wait for their charges, which name only
    # their payment intent.
    t = await env.get_current_time()
    early = charge_of(
        "ch_rec_early", invoice_id="in_rec_early", customer_id="cus_rec", decline_code="insufficient_funds"
    )
    await send(event("charge.failed", early, created=t))
    pay = invoice(
        "in_rec_pay", "cus_rec", collection_method="charge_automatically", attempt_count=1, payment_intent="pi_rec_pay"
    )
    await send(event("invoice.finalized", pay, created=t), event("invoice.payment_failed", pay, created=t + SECOND))
    declined = charge_of("ch_rec_pay", payment_intent="pi_rec_pay", customer_id="cus_rec", decline_code="expired_card")
    await send(event("charge.failed", declined, created=t + 2 * SECOND))
    await send(event("invoice.paid", paid(pay), created=t + 3 * SECOND))
    settled = charge_of("ch_rec_paid", payment_intent="pi_rec_pay", customer_id="cus_rec")
    await send(event("charge.succeeded", settled, created=t + 4 * SECOND))
    # Operator emails: the paid invoice's receipt resent to a corrected address, a test send.
    with session_scope(engine) as session:
        [receipt] = [
            e for e in email_log.all_entries(session) if e.invoice_id == "in_rec_reminders" and e.kind == "receipt"
        ]
        original, to, cc = check_resend(session, receipt.id, ["fixed@customer.test"], None)
        resend = resend_request(original, "rec-resend", to, cc, t)
    test = test_request(*check_test("receipt", "ops@example.com", "fr"), "rec-test", t)
    for req in (resend, test):
        ids.add(await client.send_operator_email(req))
    await settle(env.client, ids)
    # Customer-level lifecycles.
    pm = copy.deepcopy(stripe_fixtures()["payment_method"])
    pm.update(id="pm_rec", customer="cus_rec")
    month = t + 40 * DAY
    pm["card"].update(exp_month=month.month, exp_year=month.year)
    await send(event("payment_method.attached", pm, created=t))
    # A card the network renews: its notice moves to the new expiry.
    renewed = dict(copy.deepcopy(pm), id="pm_rec_auto")
    await send(event("payment_method.attached", renewed, created=t))
    later = t + 100 * DAY
    renewed["card"].update(exp_month=later.month, exp_year=later.year)
    await send(event("payment_method.automatically_updated", renewed, created=t + timedelta(seconds=1)))
    sub = copy.deepcopy(stripe_fixtures()["subscription"])
    sub.update(id="sub_rec", customer="cus_rec", status="trialing", trial_end=int((t + 10 * DAY).timestamp()))
    await send(event("customer.subscription.created", sub, created=t))
    cn = dict(stripe_fixtures()["credit_note"], id="cn_rec", customer="cus_rec")
    await send(event("credit_note.created", cn, created=t))
    # A tax rate described, then changed; a late copy of the first event changes nothing.
    rate = dict(stripe_fixtures()["tax_rate"], id="txr_rec")
    created = event("tax_rate.created", rate, created=t)
    await send(created, event("tax_rate.updated", dict(rate, percentage=20), created=t + timedelta(seconds=1)), created)
    charge = dict(stripe_fixtures()["charge"], id="ch_rec", customer="cus_rec", amount_refunded=300, refunds=None)
    await send(event("charge.refunded", charge, created=t))
    await advance(env, ids, 45 * DAY, step=DAY)
    await send(event("customer.subscription.deleted", dict(sub, status="canceled"), created=t + 45 * DAY))
    # In real time: a result() lets the time-skipping server jump to the next timer
    # whenever it finds nothing in flight, between two of this workflow's tasks say, and
    # the cards' next notices would fire in some runs and not in others.
    with env.auto_time_skipping_disabled():
        await env.client.execute_workflow(
            RetentionWorkflow.run, RetentionInput(days=30), id="retention-rec", task_queue=client.task_queue
        )

    async def histories(files: dict[str, str]) -> dict[str, WorkflowHistory]:
        return {stem: await env.client.get_workflow_handle(wf_id).fetch_history() for stem, wf_id in files.items()}

    # Taken now: the steps below may let the time-skipping server move the clock in some
    # runs (see there), and the workflows still waiting on timers would go on.
    done = await histories(
        {
            "RetentionWorkflow-daily": "retention-rec",
            "InvoiceWorkflow-send_invoice_reminders_paid": "invoice-in_rec_reminders",
            "InvoiceWorkflow-charge_automatically": "invoice-in_rec_auto",
            "CustomerWorkflow-created": "customer-cus_rec",
            "CardWorkflow-expiring": "card-pm_rec",
            "CardWorkflow-automatic_update": "card-pm_rec_auto",
            "SubscriptionWorkflow-trial_then_canceled": "subscription-sub_rec",
            "CreditNoteWorkflow-created": "credit-note-cn_rec",
            "RefundWorkflow-charge_only": "charge-ch_rec",
            "TaxRateWorkflow-created_updated": "tax-rate-txr_rec",
            "InvoiceWorkflow-payment_details_awaited": "invoice-in_rec_pay",
            "PaymentWorkflow-invoice_not_running": "payment-ch_rec_early",
            "PaymentWorkflow-tells_its_invoice": "payment-pi_rec_pay",
            "OperatorEmailWorkflow-resend": operator_email_workflow_id(resend.email_id),
            "OperatorEmailWorkflow-test_send": operator_email_workflow_id(test.email_id),
        }
    )
    # Last, because the clock must not move after it: webhooks out. Two endpoints want
    # invoice.voided; one accepts it, one refuses it. Once a child started by a workflow that
    # has since closed completes, the time-skipping server no longer skips time
    # (temporalio/sdk-java#2392); a real server is not affected.
    with session_scope(engine) as session:
        for path in ("/ok", "/refuse"):
            webhooks_store.create_endpoint(session, url=receiver.url(path), event_types=["invoice.voided"])
    t = await env.get_current_time()
    void = invoice("in_rec_void", "cus_rec", due=t + 3 * DAY)
    await send(
        event("invoice.finalized", void, created=t), event("invoice.voided", dict(void, status="void"), created=t)
    )
    webhook_id = f"webhook-{event_id_for('in_rec_void:invoice.voided')}"
    # Waited for in real time: nothing here needs the clock to move.
    with env.auto_time_skipping_disabled():
        await env.client.get_workflow_handle(webhook_id).result()
    return done | await histories(
        {"InvoiceWorkflow-voided": "invoice-in_rec_void", "WebhookWorkflow-delivered_and_refused": webhook_id}
    )


async def run_scenarios(*, legacy: bool = True) -> dict[str, WorkflowHistory]:
    """Every canonical scenario, on a fresh time-skipping server: {file stem: history};
    with `legacy`, each kept history's stem too, mapped to its current scenario."""
    env = await start_time_skipping(DATA_CONVERTER)
    try:
        await ensure_search_attributes(env.client, "default")
        with tempfile.TemporaryDirectory() as tmp:
            config = Config(state_dir=Path(tmp), task_queue=f"record-{uuid.uuid4().hex[:6]}", _env_file=None)
            engine = get_engine(config.resolved_database_url())
            worker = build_worker(
                env.client,
                config,
                engine=engine,
                transport=OutboxTransport(config.resolved_outbox_dir()),
                executor=ThreadPoolExecutor(max_workers=8),
            )
            receiver = Receiver()
            try:
                async with worker:
                    histories = await scenarios(env, RelanceClient(env.client, config.task_queue), engine, receiver)
            finally:
                receiver.close()
            if legacy:
                histories.update({old: histories[current] for old, current in LEGACY.items()})
            return histories
    finally:
        await env.shutdown()


async def main() -> None:
    for stem, history in (await run_scenarios(legacy=False)).items():
        (HERE / f"{stem}.json").write_text(history.to_json())
        print(f"recorded {stem}.json ({len(history.events)} events)")


if __name__ == "__main__":
    asyncio.run(main())
