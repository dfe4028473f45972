"""SendGrid answering badly, through whole lifecycles (real worker, time-skipping server,
the local SendGrid v3 fake): retried where a retry can succeed, final where it cannot,
every outcome in the email log and every final failure reported as an `email.failed`
webhook. A refused API key (401), or a key, sender or account SendGrid forbids (403), holds
the emails instead of failing each one or calling SendGrid for each: one alert, nothing
lost, everything sent once it is fixed.

Already covered elsewhere: 429 + 503 retried (tests/e2e/test_delivery_e2e.py), 400/413
final (same file), every status classified and timeouts (tests/activities/test_transports.py).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.transports.sendgrid import SendGridTransport
from activities.webhooks import event_id_for
from relance.client import RelanceClient
from relance.storage import transport_holds, webhooks_store
from relance.storage.database import dispose_engine, get_engine, session_scope
from relance.storage.suppressions import suppress
from tests.conftest import running_harness
from tests.support.events import customer, event, invoice
from tests.support.fake_sendgrid import FakeSendGrid
from tests.support.harness import Harness
from tests.workflows.test_webhooks_out import Receiver
from worker.main import WORKFLOWS, activities_for
from worker.sandbox import runner_for


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


def subscribe(h: Harness, url: str) -> None:
    with session_scope(h.engine) as s:
        webhooks_store.create_endpoint(s, url=url, event_types=["email.sent", "email.failed"])


def paid(obj: dict) -> dict:
    return dict(obj, status="paid", amount_paid=obj["amount_due"], amount_remaining=0)


async def webhook(h: Harness, key: str, wait: float = 15.0) -> bool:
    """True once the webhook emitted under `key` is delivered; False if it was not
    started within `wait` seconds (the workflow emits it just after the log is written)."""
    import asyncio
    import time

    wf_id = f"webhook-{event_id_for(key)}"
    handle = h.temporal.get_workflow_handle(wf_id)
    deadline = time.monotonic() + wait
    while True:
        try:
            await handle.describe()
            break
        except RPCError:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.2)
    h.workflow_ids.add(wf_id)
    await handle.result()
    return True


def received(receiver: Receiver, event_type: str) -> list[dict[str, Any]]:
    return [r.payload["data"] for r in receiver.of_type(event_type)]


@dataclass
class Case:
    name: str
    replies: list[dict[str, Any]]
    status: str  # final log status
    answers: list[int]  # what the fake answered, in order
    attempts: int = 0  # transient failures noted on the row
    error_has: str | None = None
    timeout: float = 30.0


CASES = [
    Case("429-retry-after", [dict(status=429, headers={"Retry-After": "1"})], "sent", [429, 202], 1),
    Case("500", [dict(status=500, headers={"Retry-After": "1"})], "sent", [500, 202], 1),
    Case("503-twice", [dict(status=503, headers={"Retry-After": "1"})] * 2, "sent", [503, 503, 202], 2),
    # SendGrid does not answer within our timeout (and has not accepted the message).
    Case("timeout", [dict(status=503, delay=3.0)], "sent", [503, 202], 1),
    Case(
        "400",
        [dict(status=400, errors=[{"field": "from", "message": "bad sender"}])],
        "failed",
        [400],
        error_has="(400)",
    ),
    Case("413", [dict(status=413)], "failed", [413], error_has="(413)"),
]


async def test_sendgrid_fault_matrix_every_outcome_logged_and_reported(
    time_env, config, sqlite_url, receiver: Receiver
) -> None:
    config = config.model_copy(update={"default_from_email": "billing@relance-demo.fr"})
    with FakeSendGrid() as fake:
        async with running_harness(
            time_env, config, sqlite_url, SendGridTransport(fake.api_key, base_url=fake.url, timeout=1.0)
        ) as h:
            subscribe(h, receiver.url)
            h.save_settings(attach_pdf=False)
            now = await h.now()
            for i, case in enumerate(CASES):
                before = len(fake.requests)
                for reply in case.replies:
                    fake.queue(**reply)
                cus, inv = f"cus_m{i}", f"in_m{i}"
                await h.send(
                    event("customer.created", customer(cus, email=f"ap{i}@acme-client.fr"), created=now),
                    event("invoice.paid", paid(invoice(inv, cus, email=None)), created=now),
                )
                [row] = [r for r in h.log() if r.invoice_id == inv]
                assert (row.status, row.attempts) == (case.status, case.attempts), (case.name, row.error)
                assert [r.status for r in fake.requests[before:]] == case.answers, case.name
                if case.error_has:
                    assert case.error_has in (row.error or ""), (case.name, row.error)
                outcome = "email.sent" if case.status == "sent" else "email.failed"
                assert await webhook(h, f"{row.idempotency_key}:{outcome}"), (case.name, outcome)
    # Each email reported once, with the log's outcome; each accepted once by SendGrid.
    sent = [c for c in CASES if c.status == "sent"]
    failed = {d["invoice_id"]: d for d in received(receiver, "email.failed")}
    assert sorted(failed) == sorted(f"in_m{i}" for i, c in enumerate(CASES) if c.status == "failed")
    assert all(d["status"] == "failed" and d["provider"] == "sendgrid" and d["error"] for d in failed.values())
    assert len(received(receiver, "email.sent")) == len(sent) == len(fake.payloads)


async def test_undeliverable_emails_are_reported_as_email_failed(harness: Harness, receiver: Receiver) -> None:
    """No address at all, or every address suppressed (a hard bounce): nobody gets the
    email, so the account hears of it as of any failure."""
    h = harness
    subscribe(h, receiver.url)
    h.save_settings(attach_pdf=False)
    with session_scope(h.engine) as s:
        suppress(s, "bounced@acme-client.fr", "bounce", detail="550 mailbox unavailable")
    now = await h.now()
    await h.send(
        event("customer.created", customer("cus_nobody", email=None), created=now),
        event("invoice.paid", paid(invoice("in_nobody", "cus_nobody", email=None)), created=now),
        event("customer.created", customer("cus_bounced", email="bounced@acme-client.fr"), created=now),
        event("invoice.paid", paid(invoice("in_bounced", "cus_bounced", email=None)), created=now),
    )
    rows = {r.invoice_id: r for r in h.log()}
    assert (rows["in_nobody"].status, rows["in_bounced"].status) == ("failed", "skipped")
    for inv in ("in_nobody", "in_bounced"):
        assert await webhook(h, f"{rows[inv].idempotency_key}:email.failed"), inv
    failed = {d["invoice_id"]: d for d in received(receiver, "email.failed")}
    assert sorted(failed) == ["in_bounced", "in_nobody"]
    assert failed["in_nobody"]["error"] == "the customer has no email address"
    assert "bounced@acme-client.fr" in failed["in_bounced"]["error"]
    assert h.outbox_messages() == []


async def test_sendgrid_401_holds_every_email_with_one_alert_then_sends_them_once_the_key_is_fixed(
    time_env, config, sqlite_url, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="relance.delivery")
    config = config.model_copy(update={"default_from_email": "billing@relance-demo.fr", "hold_retry_seconds": 1.0})
    engine = get_engine(sqlite_url)
    invoices = [f"in_key{i}" for i in range(4)]
    with FakeSendGrid() as fake:
        wrong = SendGridTransport("SG.revoked-key.never-shown", base_url=fake.url, timeout=5)
        async with uncached_harness(time_env, config, sqlite_url, wrong) as h:
            subscribe(h, receiver.url)
            h.save_settings(attach_pdf=False)
            now = await h.now()
            for i, inv in enumerate(invoices):
                cus = f"cus_key{i}"
                await h.send(
                    event("customer.created", customer(cus, email=f"ap{i}@acme-client.fr"), created=now),
                    event("invoice.paid", paid(invoice(inv, cus, email=None)), created=now),
                    settle_all=False,
                )  # held: the invoice workflows stay busy
                if i == 0:
                    # The first 401 opens the hold. (Emails already on their way to SendGrid
                    # at that moment each get their own 401; the ones after it do not call.)
                    await _poll(lambda: any("held" in (r.error or "") for r in h.log()), 30, "the hold")

            # Held: every email pending with the reason, SendGrid called once, not per email.
            async def all_held() -> bool:
                rows = h.log()
                return len(rows) == 4 and all(r.status == "pending" and r.attempts >= 2 for r in rows)

            # Generous bounds, not expected durations: the uncached worker cancels and
            # retries its local activities on every eviction, slow on a loaded 2-core CI
            # machine (one run took more than 60 s to get the held emails out).
            await _poll(all_held, 180, "every email held")
            assert [r.status for r in fake.requests] == [401]
            assert all("held" in (r.error or "") and "API key" in (r.error or "") for r in h.log())
            with session_scope(engine) as s:
                assert transport_holds.current_hold(s, "sendgrid") is not None
            ids = set(h.workflow_ids)  # handed over to the next worker, not ended
        # The operator fixes RELANCE_SENDGRID_API_KEY and restarts the worker.
        fixed = SendGridTransport(fake.api_key, base_url=fake.url, timeout=5)
        async with running_harness(time_env, config, sqlite_url, fixed) as h2:
            h2.workflow_ids = ids
            await _poll(lambda: all(r.status == "sent" for r in h2.log()), 180, "the held emails sent")
            rows = h2.log()
            sent_keys = [f"{r.idempotency_key}:email.sent" for r in rows]
            for key in sent_keys:
                assert await webhook(h2, key)
            alert_keys = [f"{r.idempotency_key}:email.failed:held" for r in rows]
            alerts = [k for k in alert_keys if await webhook(h2, k, wait=0)]  # started before the hold
            with session_scope(engine) as s:
                assert transport_holds.current_hold(s, "sendgrid") is None
    assert sorted(r.invoice_id or "" for r in rows) == invoices and {r.status for r in rows} == {"sent"}
    assert [r.status for r in fake.requests] == [401, 202, 202, 202, 202]
    assert len(fake.payloads) == 4
    # One alert: one error line, one email.failed webhook (status "held"), then four email.sent.
    errors = [r for r in caplog.records if r.name == "relance.delivery" and r.levelno == logging.ERROR]
    assert len(errors) == 1 and "held" in errors[0].getMessage()
    assert "SG.revoked-key.never-shown" not in caplog.text
    assert len(alerts) == 1
    [alert] = received(receiver, "email.failed")
    assert alert["status"] == "held" and "401" in alert["error"] and alert["invoice_id"] in invoices
    assert len(received(receiver, "email.sent")) == 4


async def test_sendgrid_403_holds_the_emails_until_a_probe_finds_the_sender_verified(
    time_env, config, sqlite_url, receiver: Receiver
) -> None:
    """A 403 (here: the sender not verified) is fixed in SendGrid's console, not in
    Relance's settings: the key stays the same, so the hold ends when the next probe
    (one email per RELANCE_HOLD_PROBE_SECONDS) is accepted, and the held emails follow."""
    config = config.model_copy(
        update={"default_from_email": "billing@relance-demo.fr", "hold_retry_seconds": 1.0, "hold_probe_seconds": 2.0}
    )
    engine = get_engine(sqlite_url)
    invoices = [f"in_snd{i}" for i in range(3)]
    forbidden = [{"message": "The from address does not match a verified Sender Identity.", "field": "from"}]
    with FakeSendGrid() as fake:
        # Forbidden until the operator verifies the sender: enough 403s for any email
        # already on its way when the hold opened, then accepted.
        for _ in range(3):
            fake.queue(403, errors=forbidden)
        async with running_harness(
            time_env, config, sqlite_url, SendGridTransport(fake.api_key, base_url=fake.url, timeout=5)
        ) as h:
            subscribe(h, receiver.url)
            h.save_settings(attach_pdf=False)
            now = await h.now()
            await h.send(
                event("customer.created", customer("cus_snd", email="ap@acme-client.fr"), created=now),
                *(event("invoice.paid", paid(invoice(inv, "cus_snd", email=None)), created=now) for inv in invoices),
            )
            rows = h.log()
            # Delivered before the worker stops: each invoice workflow starts its webhook
            # child and ends without waiting for the delivery.
            for key in (f"{r.idempotency_key}:email.sent" for r in rows):
                assert await webhook(h, key), key
            alerts = [
                k for k in (f"{r.idempotency_key}:email.failed:held" for r in rows) if await webhook(h, k, wait=0)
            ]  # started before the hold
            with session_scope(engine) as s:
                assert transport_holds.current_hold(s, "sendgrid") is None
    assert sorted(r.invoice_id or "" for r in rows) == invoices and {r.status for r in rows} == {"sent"}
    assert len(alerts) == 1
    answers = [r.status for r in fake.requests]
    assert answers[0] == 403 and answers.count(202) == 3 and set(answers) == {403, 202}
    # Nothing lost, nothing twice: 3 emails accepted; each held email counted its wait.
    assert len(fake.payloads) == 3 and sum(r.attempts for r in rows) >= 1
    [alert] = received(receiver, "email.failed")
    assert alert["status"] == "held" and "403" in alert["error"] and "verified Sender Identity" in alert["error"]
    assert len(received(receiver, "email.sent")) == 3


def test_hold_lets_one_probe_through_per_interval_and_ends_with_another_key(sqlite_url) -> None:
    engine = get_engine(sqlite_url)
    t0 = datetime(2027, 1, 1, tzinfo=UTC)
    every = timedelta(minutes=10)
    with session_scope(engine) as s:
        assert transport_holds.held(s, "sendgrid", "k1", every, now=t0) is None
        assert transport_holds.open_hold(s, "sendgrid", "k1", "401", every, now=t0) is True
        assert transport_holds.open_hold(s, "sendgrid", "k1", "401 again", every, now=t0) is False  # no 2nd alert
    with session_scope(engine) as s:
        assert transport_holds.held(s, "sendgrid", "k1", every, now=t0 + timedelta(minutes=5)) is not None
        assert transport_holds.held(s, "sendgrid", "k2", every, now=t0 + timedelta(minutes=5)) is None  # new key
    probes = []
    for minute in (10, 10, 11, 19, 20, 21):
        with session_scope(engine) as s:
            probes.append(transport_holds.held(s, "sendgrid", "k1", every, now=t0 + timedelta(minutes=minute)) is None)
    assert probes == [True, False, False, False, True, False]  # one through every 10 minutes
    with session_scope(engine) as s:
        assert transport_holds.clear_hold(s, "sendgrid") is True
    with session_scope(engine) as s:
        assert transport_holds.held(s, "sendgrid", "k1", every, now=t0) is None
    dispose_engine(sqlite_url)


async def test_a_hold_that_outlasts_the_delivery_window_fails_the_email_as_held(time_env, config, sqlite_url) -> None:
    """Nobody fixes the key: a held email is retried until its 3-day window closes, then
    fails, counted with the reason `held` (the last attempt's error type, passed by the
    workflow), not as a provider outage. No webhook endpoint here: a webhook workflow
    would stop the time-skipping server from skipping (see tests/workflows/test_webhooks_out.py)."""
    from prometheus_client import REGISTRY

    def failed(reason: str) -> float:
        return REGISTRY.get_sample_value("relance_emails_failed_total", {"kind": "receipt", "reason": reason}) or 0.0

    config = config.model_copy(
        update={
            "default_from_email": "billing@relance-demo.fr",
            "hold_retry_seconds": 86400.0,
            "hold_probe_seconds": 86400.0,
        }
    )
    before = {reason: failed(reason) for reason in ("held", "provider_unavailable")}
    with FakeSendGrid() as fake:
        wrong = SendGridTransport("SG.revoked-for-good", base_url=fake.url, timeout=5)
        async with uncached_harness(time_env, config, sqlite_url, wrong) as h:
            h.save_settings(attach_pdf=False)
            now = await h.now()
            # No settling at the end: the workflow stays busy while its email is held.
            await h.send(
                event("customer.created", customer("cus_never_fixed", email="ap@acme-client.fr"), created=now),
                event("invoice.paid", paid(invoice("in_never_fixed", "cus_never_fixed", email=None)), created=now),
                settle_all=False,
            )
            await _poll(lambda: any("held" in (r.error or "") for r in h.log()), 30, "the hold")
            await time_env.sleep(timedelta(days=4))  # retried once a day (RELANCE_HOLD_RETRY_SECONDS)
            await _poll(lambda: [r.status for r in h.log()] == ["failed"], 30, "the email failed")
            [row] = h.log()
    assert row.sent_at is None and fake.payloads == [] and "held" in (row.error or "")
    assert failed("held") == before["held"] + 1
    assert failed("provider_unavailable") == before["provider_unavailable"]


@asynccontextmanager
async def uncached_harness(env: WorkflowEnvironment, config, database_url: str, transport) -> AsyncIterator[Harness]:
    """The worker of `running_harness`, without a workflow cache: when it stops, its
    workflows' tasks go to the next worker at once (with a cache they would wait on its
    sticky queue, which the time-skipping server never gives up on)."""
    engine = get_engine(database_url)
    worker = Worker(
        env.client,
        task_queue=config.task_queue,
        workflows=WORKFLOWS,
        workflow_runner=runner_for(env.client.data_converter),
        activities=activities_for(engine, config, transport),
        activity_executor=ThreadPoolExecutor(max_workers=8),
        max_concurrent_activities=8,
        max_cached_workflows=0,
    )
    async with worker:
        yield Harness(
            env=env,
            client=RelanceClient(env.client, config.task_queue),
            engine=engine,
            outbox=config.resolved_outbox_dir(),
            config=config,
            worker=worker,
        )


async def _poll(predicate, timeout: float, what: str) -> None:
    import asyncio
    import inspect
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


def test_thelast_error_type_is_found_through_the_windows_timeout() -> None:
    """What the workflow passes to record_delivery_failure: the ActivityError's cause is
    the last attempt's error, or, once the 3-day window closed, a timeout caused by it."""
    from temporalio.exceptions import ActivityError, ApplicationError, RetryState, TimeoutError, TimeoutType

    from workflows.email_steps import last_error_type

    def activity_error(cause: BaseException) -> ActivityError:
        err = ActivityError(
            "activity failed",
            scheduled_event_id=1,
            started_event_id=2,
            identity="w",
            activity_type="deliver_email",
            activity_id="5",
            retry_state=RetryState.TIMEOUT,
        )
        err.__cause__ = cause
        return err

    held = ApplicationError("held: SendGrid refused the API key (401)", type="TransportHeld")
    timeout = TimeoutError("activity timeout", type=TimeoutType.SCHEDULE_TO_CLOSE, last_heartbeat_details=[])
    timeout.__cause__ = held
    assert last_error_type(activity_error(timeout)) == "TransportHeld"
    assert (
        last_error_type(activity_error(ApplicationError("503", type="RetryableDeliveryError")))
        == "RetryableDeliveryError"
    )
    bare = TimeoutError("activity timeout", type=TimeoutType.SCHEDULE_TO_CLOSE, last_heartbeat_details=[])
    assert last_error_type(activity_error(bare)) is None
