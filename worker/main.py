"""Build and run the worker. Sync activities (database, rendering) run in a thread pool;
PDFs go further, to a process pool (see relance/rendering/pdf_pool.py), so WeasyPrint's CPU work
never starves the workflow worker."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy.engine import Engine
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from activities.customers import CustomerActivities
from activities.emails import EmailActivities
from activities.invoices import InvoiceActivities
from activities.notices import NoticeActivities
from activities.payments import PaymentActivities
from activities.refunds import RefundActivities
from activities.retention import RetentionActivities
from activities.tax_rates import TaxRateActivities
from activities.transports.base import Transport
from activities.webhooks import WebhookActivities
from relance.contracts import search_attributes as sa
from relance.contracts.models import RetentionInput
from relance.platform.config import Config
from relance.storage.database import get_engine
from worker.sandbox import runner_for
from workflows.card import CardWorkflow
from workflows.credit_note import CreditNoteWorkflow
from workflows.customer import CustomerWorkflow
from workflows.invoice import InvoiceWorkflow
from workflows.operator_email import OperatorEmailWorkflow
from workflows.payment import PaymentWorkflow
from workflows.refund import RefundWorkflow
from workflows.retention import RetentionWorkflow
from workflows.subscription import SubscriptionWorkflow
from workflows.tax_rate import TaxRateWorkflow
from workflows.webhooks import WebhookWorkflow

log = logging.getLogger("relance.worker")


WORKFLOWS = [
    InvoiceWorkflow,
    CustomerWorkflow,
    CardWorkflow,
    SubscriptionWorkflow,
    CreditNoteWorkflow,
    RefundWorkflow,
    TaxRateWorkflow,
    PaymentWorkflow,
    RetentionWorkflow,
    WebhookWorkflow,
    OperatorEmailWorkflow,
]

_INDEXED = {
    "KEYWORD": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "DATETIME": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
}


async def ensure_search_attributes(client: Client, namespace: str) -> None:
    """Register Relance's search attributes if the server lacks them (idempotent). On a
    server that does not allow it (Temporal Cloud), register them in its console."""
    wanted = {key.name: _INDEXED[key.indexed_value_type.name.removeprefix("INDEXED_VALUE_TYPE_")] for key in sa.ALL}
    try:
        existing = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        wanted = {name: kind for name, kind in wanted.items() if name not in existing.custom_attributes}
    except RPCError as exc:
        # The time-skipping test server cannot list them, but can add them.
        if exc.status != RPCStatusCode.UNIMPLEMENTED:
            raise
    if wanted:
        try:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace=namespace, search_attributes=wanted)
            )
        except RPCError as exc:
            if exc.status != RPCStatusCode.ALREADY_EXISTS:
                raise


RETENTION_SCHEDULE_ID = "relance-email-log-retention"


async def ensure_retention_schedule(client: Client, config: Config) -> bool:
    """The daily purge, created once per namespace (an existing schedule is left as it is,
    so several workers starting together are fine). False where the server has no
    schedules (the time-skipping test server)."""
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            RetentionWorkflow.run,
            RetentionInput(days=config.log_retention_days),
            id="relance-retention",
            task_queue=config.task_queue,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(days=1))]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
    try:
        await client.create_schedule(RETENTION_SCHEDULE_ID, schedule)
    except ScheduleAlreadyRunningError:
        pass
    except RPCError as exc:
        if exc.status == RPCStatusCode.UNIMPLEMENTED:
            return False
        raise
    return True


def activities_for(engine: Engine, config: Config, transport: Transport) -> list:
    invoices = InvoiceActivities(engine)
    customers = CustomerActivities(engine)
    emails = EmailActivities(engine, config, transport)
    notices = NoticeActivities(engine)
    refunds = RefundActivities(engine)
    payments = PaymentActivities(engine)
    retention = RetentionActivities(engine)
    webhooks = WebhookActivities(engine)
    tax_rates = TaxRateActivities(engine)
    return [
        invoices.apply_invoice_event,
        invoices.load_invoice,
        invoices.plan_reminders,
        notices.notice_time,
        refunds.load_refund_ledger,
        refunds.save_refund_ledger,
        refunds.hold_unattributed_refunds,
        payments.record_payment,
        retention.purge_email_log,
        customers.record_customer,
        tax_rates.record_tax_rate,
        emails.prepare_email,
        emails.prepare_operator_email,
        emails.render_document,
        emails.deliver_email,
        emails.record_delivery_failure,
        webhooks.webhook_subscribers,
        webhooks.open_deliveries,
        webhooks.deliver_webhook,
        webhooks.record_webhook_failure,
    ]


# On SIGTERM (a deploy, `docker compose stop`, a scale-down) the worker stops polling and
# gives the activities it is running this long to finish; whatever is still running then
# is cancelled and retried by another worker (email activities heartbeat, so that is
# seconds later). Below Docker's and Kubernetes' default grace periods would be too short
# for a PDF: compose gives the worker `stop_grace_period: 40s`.
SHUTDOWN_GRACE = timedelta(seconds=30)


def build_worker(
    client: Client,
    config: Config,
    *,
    engine: Engine | None = None,
    transport: Transport | None = None,
    executor: ThreadPoolExecutor | None = None,
    graceful_shutdown: timedelta = timedelta(0),
) -> Worker:
    from activities.transports.factory import build_transport

    engine = engine or get_engine(config.resolved_database_url(), auto_migrate=config.db_auto_migrate)
    transport = transport or build_transport(config)
    executor = executor or ThreadPoolExecutor(
        max_workers=config.worker_activity_threads, thread_name_prefix="relance-activity"
    )
    return Worker(
        client,
        task_queue=config.task_queue,
        workflows=WORKFLOWS,
        # The sandbox, minus a per-payload context lookup this converter has no use for.
        workflow_runner=runner_for(client.data_converter),
        activities=activities_for(engine, config, transport),
        activity_executor=executor,
        # Sync activities each hold a thread: never accept more than the pool can run.
        max_concurrent_activities=executor._max_workers,
        max_cached_workflows=config.worker_max_cached_workflows,
        max_concurrent_workflow_task_polls=config.worker_workflow_task_pollers,
        max_concurrent_activity_task_polls=config.worker_activity_task_pollers,
        graceful_shutdown_timeout=graceful_shutdown,
    )


async def run_worker(config: Config, stop: asyncio.Event | None = None, *, transport: Transport | None = None) -> None:
    """`transport`: the configured one unless given (tests inject faults around it)."""
    from activities.transports.factory import build_transport
    from relance.platform.metrics import prime, serve_metrics
    from relance.platform.temporal_client import connect

    # Before anything else: a metrics port already taken stops the worker at once.
    serve_metrics(config)
    transport = transport or build_transport(config)
    prime(transport.name)
    client = await connect(config)
    try:
        await ensure_search_attributes(client, config.temporal_namespace)
    except Exception as exc:  # e.g. no operator permission on Temporal Cloud
        log.warning("could not register search attributes (%s); register them on the server", exc)
    from relance.rendering.pdf_pool import configure_pool, shutdown_pool

    await ensure_retention_schedule(client, config)

    configure_pool(config.pdf_processes)
    # Compiling the email templates takes ~2 s of CPU for all locales: done here, before
    # polling, it is not paid by the first emails of every locale (nor, under load, by
    # the activities running beside them, which wait on the same GIL).
    from relance.rendering.email import warm

    await asyncio.to_thread(warm)
    # A refused fetch in a PDF (a hostile URL in customer text) is expected, not an error.
    logging.getLogger("weasyprint").setLevel(logging.CRITICAL)
    worker = build_worker(client, config, transport=transport, graceful_shutdown=SHUTDOWN_GRACE)
    log.info("worker polling %s on %s", config.task_queue, config.temporal_address)
    try:
        async with worker:
            await (stop.wait() if stop else asyncio.Event().wait())
            log.info("worker stopping: finishing running activities (up to %ss)", SHUTDOWN_GRACE.seconds)
    finally:
        shutdown_pool()
    log.info("worker stopped")
