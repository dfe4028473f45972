"""Prometheus metrics, scraped over HTTP as Prometheus would and parsed with
prometheus_client's own parser: Relance's endpoint after a real lifecycle (real worker,
time-skipping server, outbox), the Temporal SDK's endpoint, and a port already taken.

Counters are process-wide and other tests send emails too, so each test compares a
scrape after with a scrape before."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.emails import EmailActivities
from activities.transports.outbox import OutboxTransport
from relance.contracts.kinds import EmailKind
from relance.contracts.models import DeliveryRequest, EmailRequest
from relance.platform.config import Config, SettingError
from relance.platform.metrics import MetricsServer, start_metrics_server
from relance.platform.temporal_client import DATA_CONVERTER, build_runtime
from tests.support.events import customer, event, invoice, parse_one
from tests.support.harness import Harness
from tests.support.smtp_sink import free_port

Sample = tuple[str, tuple[tuple[str, str], ...]]
# A missing sample reads as 0, as a counter's does.
Tally = defaultdict[Sample, float]


def scrape(port: int) -> Tally:
    """Every sample of http://127.0.0.1:<port>/metrics, by name and labels."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    samples: Tally = defaultdict(float)
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def key(name: str, **labels: str) -> Sample:
    return name, tuple(sorted(labels.items()))


@pytest.fixture
def endpoint() -> Iterator[MetricsServer]:
    server = start_metrics_server(f"127.0.0.1:{free_port()}")
    yield server
    server.close()


async def test_lifecycle_counts_and_timings_on_the_endpoint(harness: Harness, endpoint: MetricsServer) -> None:
    h = harness
    h.save_settings(emails={"receipt": False})
    before = scrape(endpoint.port)
    now = await h.now()
    obj = invoice("in_metrics1", "cus_metrics")
    await h.send(
        event("customer.created", customer("cus_metrics"), created=now),
        event("invoice.finalized", obj, created=now),
        event("invoice.paid", dict(obj, status="paid", amount_paid=obj["amount_due"], amount_remaining=0), created=now),
        # Nobody to write to: failed in the log, and counted so.
        event("customer.created", customer("cus_metrics_none", email=None), created=now),
        event("invoice.finalized", invoice("in_metrics2", "cus_metrics_none", email=None), created=now),
    )
    assert sorted((e.kind, e.status) for e in h.log()) == [
        ("invoice_finalized", "failed"),
        ("invoice_finalized", "sent"),
        ("receipt", "skipped"),
    ]
    after = scrape(endpoint.port)
    delta = {k: after[k] - before[k] for k in after}

    assert delta[key("relance_emails_sent_total", kind="invoice_finalized", transport="outbox")] == 1
    assert delta[key("relance_emails_suppressed_total", kind="receipt", reason="switched_off")] == 1
    assert delta[key("relance_emails_failed_total", kind="invoice_finalized", reason="no_recipient")] == 1
    assert delta[key("relance_render_seconds_count", kind="invoice_finalized")] == 1
    assert delta[key("relance_pdf_render_seconds_count", document="invoice")] == 1
    assert after[key("relance_pdf_render_seconds_sum", document="invoice")] > 0
    assert delta[key("relance_delivery_seconds_count", transport="outbox")] == 1
    # Nothing else moved: one email sent, none asked for twice, and no label carries an id.
    assert sum(v for (name, _), v in delta.items() if name == "relance_emails_sent_total") == 1
    assert sum(v for (name, labels), v in delta.items() if ("reason", "duplicate") in labels) == 0
    assert not [k for k in after if any("metrics1" in v or "cus_" in v for _, v in k[1])]


async def test_a_retried_activity_counts_nothing_twice(sqlite_url, tmp_path, endpoint: MetricsServer) -> None:
    """The email log decides: a deliver retried after the provider accepted, and a prepare
    asked again for a sent email, count the send once (and the second ask as a duplicate)."""
    from relance.contracts.events import CustomerEvent
    from relance.storage.customers import record_customer_event
    from relance.storage.database import get_engine, session_scope

    engine = get_engine(sqlite_url)
    cus = parse_one(event("customer.created", customer("cus_once")), CustomerEvent)
    with session_scope(engine) as s:
        record_customer_event(s, cus.id, cus.type, cus.created, cus.customer)
    config = Config(state_dir=tmp_path, _env_file=None)
    acts = EmailActivities(engine, config, OutboxTransport(config.resolved_outbox_dir()))
    req = EmailRequest(
        kind=EmailKind.card_expiring,
        idempotency_key="pm_once:card_expiring:2026-03",
        customer_id="cus_once",
        scheduled_at=datetime.now(UTC),
        card={"brand": "visa", "last4": "4242", "exp_month": 3, "exp_year": 2026},
    )
    env = ActivityEnvironment()
    before = scrape(endpoint.port)
    assert env.run(acts.prepare_email, req).status == "ready"
    delivery = DeliveryRequest(idempotency_key=req.idempotency_key, attachments=[])
    assert (await env.run(acts.deliver_email, delivery)).status == "sent"
    assert (await env.run(acts.deliver_email, delivery)).status == "sent"  # retried: already sent
    assert env.run(acts.prepare_email, req).status == "done"  # asked again: already in the log
    after = scrape(endpoint.port)
    assert (
        after[key("relance_emails_sent_total", kind="card_expiring", transport="outbox")]
        - before[key("relance_emails_sent_total", kind="card_expiring", transport="outbox")]
        == 1
    )
    assert (
        after[key("relance_emails_suppressed_total", kind="card_expiring", reason="duplicate")]
        - before[key("relance_emails_suppressed_total", kind="card_expiring", reason="duplicate")]
        == 1
    )
    assert (
        after[key("relance_delivery_seconds_count", transport="outbox")]
        - before[key("relance_delivery_seconds_count", transport="outbox")]
        == 1
    )


async def test_temporal_sdk_serves_its_own_metrics(time_env: WorkflowEnvironment) -> None:
    port = free_port()
    runtime = build_runtime(f"127.0.0.1:{port}")
    client = await Client.connect(
        time_env.client.service_client.config.target_host, runtime=runtime, data_converter=DATA_CONVERTER
    )
    await client.workflow_service.get_system_info(GetSystemInfoRequest())  # one RPC through the core's client
    names = {name for name, _ in scrape(port)}
    assert any(n.startswith("temporal_request") for n in names), sorted(names)[:20]


def test_a_taken_port_is_refused_naming_the_setting() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        bind = f"127.0.0.1:{taken.getsockname()[1]}"
        with pytest.raises(SettingError, match=f"RELANCE_METRICS_BIND={bind}: cannot serve metrics there"):
            start_metrics_server(bind)
        with pytest.raises(SettingError, match=f"RELANCE_TEMPORAL_METRICS_BIND={bind}: .*in use"):
            build_runtime(bind)
        # The worker command stops at once, before connecting anywhere, with a JSON line.
        env = dict(
            os.environ, RELANCE_METRICS_BIND=bind, RELANCE_LOG_FORMAT="json", RELANCE_TEMPORAL_ADDRESS="127.0.0.1:1"
        )
        done = subprocess.run(
            [str(Path(sys.executable).parent / "relance"), "worker"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2, done.stderr
    last = json.loads(done.stderr.strip().splitlines()[-1])
    assert last["level"] == "ERROR" and last["message"].startswith(f"RELANCE_METRICS_BIND={bind}: cannot serve")
