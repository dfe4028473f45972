"""Throughput of invoice lifecycles on the real Temporal dev server, beside the "Temporal
floor": a trivial workflow issuing the same number of no-op activities on the same server
in the same run. Not a test; prints JSON and writes bench/results/throughput.json.

    .venv/bin/python bench/throughput.py [--invoices 60] [--pdfs both|on|off]
        [--layout processes|one-process] [--activity-threads 16] [--cached-workflows 1000]
        [--pollers 5] [--out throughput.json]

The worker knobs (RELANCE_WORKER_* settings) are there to choose their defaults from runs.
Layout "processes" (the default) runs each worker in its own process, Relance's as
`relance worker`, the floor's and the skeleton's as bench/noop_worker.py, and sends the
events and starts from this one, as a backend does in production; "one-process" runs
everything here, so each side's client shares its worker's GIL.

Each lifecycle: customer.created, invoice.finalized (send_invoice: invoice email, PDF),
invoice.paid (receipt: invoice + receipt PDFs), with the outbox transport and SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func  # noqa: E402
from sqlmodel import select  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402
from temporalio.worker import Worker  # noqa: E402

from activities.transports.outbox import OutboxTransport  # noqa: E402
from bench.floor_workflow import FloorWorkflow, noop  # noqa: E402
from bench.server_metrics import free_port, per_unit, scrape, settled_scrape  # noqa: E402
from bench.skeleton_workflow import SKELETON_ACTIVITIES, SkeletonWorkflow  # noqa: E402
from relance.client import RelanceClient  # noqa: E402
from relance.contracts import search_attributes as sa  # noqa: E402
from relance.contracts.account import AccountSettings  # noqa: E402
from relance.platform.binaries import dev_server_path  # noqa: E402
from relance.platform.config import Config  # noqa: E402
from relance.platform.signals import signal_name  # noqa: E402
from relance.platform.temporal_client import DATA_CONVERTER, runtime  # noqa: E402
from relance.rendering.pdf_pool import shutdown_pool  # noqa: E402
from relance.storage.database import get_engine, session_scope  # noqa: E402
from relance.storage.settings_store import save_settings  # noqa: E402
from relance.storage.tables import EmailLogEntry  # noqa: E402
from tests.support.events import customer, event, invoice  # noqa: E402
from worker.main import build_worker  # noqa: E402
from worker.sandbox import runner_for  # noqa: E402

Cpu = Callable[[], tuple[float, float]]  # a worker's CPU seconds so far: its own, its children's


def cpu_seconds() -> float:
    self_, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return self_.ru_utime + self_.ru_stime + children.ru_utime + children.ru_stime


def sent_count(engine) -> int:
    with session_scope(engine) as s:
        return s.exec(select(func.count()).select_from(EmailLogEntry).where(EmailLogEntry.status == "sent")).one()


def _children_cpu(server: bool) -> float:
    """CPU seconds used so far by this process's live children: the dev server (`temporal`)
    or the others (the PDF pool's processes). getrusage counts only children that ended."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            head, tail = stat.read_text().rsplit(")", 1)
        except OSError:
            continue
        fields = tail.split()
        if int(fields[1]) == os.getpid() and head.split("(", 1)[1].startswith("temporal") == server:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def server_cpu() -> float:
    """Both sides of the comparison cost the server too, and on 2 cores it competes with
    the worker."""
    return _children_cpu(server=True)


def pdf_processes_cpu() -> float:
    return _children_cpu(server=False)


def _tree_cpu(proc: subprocess.Popen) -> tuple[float, float]:
    """CPU seconds of a worker process, and of its children (the PDF pool)."""
    try:
        root = psutil.Process(proc.pid)
        own = sum(root.cpu_times()[:2])
        children = sum(sum(c.cpu_times()[:2]) for c in root.children(recursive=True))
    except psutil.NoSuchProcess:
        return 0.0, 0.0
    return own, children


@contextlib.asynccontextmanager
async def _worker_process(command: list[str], env: dict[str, str], ready: str, log: Path) -> AsyncIterator[Cpu]:
    with log.open("ab") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            while ready not in log.read_text(errors="replace"):
                if proc.poll() is not None:
                    raise SystemExit(f"{command[0]} exited: see {log}")
                await asyncio.sleep(0.2)
            await asyncio.sleep(1)  # its pollers reach the server
            yield lambda: _tree_cpu(proc)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)  # the group: the PDF pool goes too
            await asyncio.to_thread(proc.wait)


@contextlib.asynccontextmanager
async def relance_worker(env: WorkflowEnvironment, config: Config, layout: str, engine) -> AsyncIterator[Cpu]:
    """Relance's worker, in this process or as `relance worker` (as in production).
    Yields a function giving the worker's CPU seconds and its PDF processes' so far."""
    if layout == "one-process":
        async with build_worker(
            env.client, config, engine=engine, transport=OutboxTransport(config.resolved_outbox_dir())
        ):
            yield lambda: (cpu_seconds(), pdf_processes_cpu())
        return
    variables = {
        "RELANCE_STATE_DIR": str(config.state_dir),
        "RELANCE_TASK_QUEUE": config.task_queue,
        "RELANCE_TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "RELANCE_TRANSPORT": "outbox",
        "RELANCE_LOG_LEVEL": "INFO",
        **{
            f"RELANCE_{key.upper()}": str(value)
            for key, value in config.model_dump().items()
            if key.startswith("worker_")
        },
    }
    relance = Path(sys.executable).parent / "relance"
    async with _worker_process(
        [str(relance), "worker"], {**os.environ, **variables}, "worker polling", config.state_dir / "worker.log"
    ) as cpu:
        yield cpu


@contextlib.asynccontextmanager
async def noop_worker(env: WorkflowEnvironment, queue: str, layout: str, tmp: Path) -> AsyncIterator[Cpu]:
    """The floor's and the skeleton's worker, laid out as Relance's is."""
    if layout == "one-process":
        async with Worker(
            env.client,
            task_queue=queue,
            workflows=[FloorWorkflow, SkeletonWorkflow],
            activities=[noop, *SKELETON_ACTIVITIES],
            workflow_runner=runner_for(env.client.data_converter),
        ):
            yield lambda: (cpu_seconds(), 0.0)
        return
    command = [sys.executable, "-m", "bench.noop_worker", env.client.service_client.config.target_host, queue]
    async with _worker_process(
        command, {**os.environ, "PYTHONPATH": str(ROOT)}, "polling", tmp / f"{queue}.log"
    ) as cpu:
        yield cpu


def _cpu_fields(
    worker0: tuple[float, float], worker1: tuple[float, float], client0: float, server0: float, layout: str
) -> dict:
    fields = {
        "cpu_seconds_worker": round(worker1[0] - worker0[0], 2),
        "cpu_seconds_server": round(server_cpu() - server0, 2),
    }
    if layout == "processes":  # in one process, the client's CPU is the worker's
        fields["cpu_seconds_client"] = round(cpu_seconds() - client0, 2)
    return fields


async def lifecycles(
    env: WorkflowEnvironment, n: int, attach_pdf: bool, tmp: Path, knobs: dict, metrics: int, layout: str
) -> dict:
    config = Config(
        state_dir=tmp / f"run-{attach_pdf}", task_queue=f"bench-{uuid.uuid4().hex[:6]}", _env_file=None, **knobs
    )
    config.state_dir.mkdir(parents=True, exist_ok=True)
    engine = get_engine(config.resolved_database_url())
    with session_scope(engine) as s:
        save_settings(s, AccountSettings(attach_pdf=attach_pdf, reminders=[]))
    client = RelanceClient(env.client, config.task_queue)
    now = datetime.now(UTC)
    async with relance_worker(env, config, layout, engine) as worker_cpu:
        await client.send(event("customer.created", customer("cus_bench"), created=now))
        start, worker0, client0, server0 = time.perf_counter(), worker_cpu(), cpu_seconds(), server_cpu()
        counts0 = scrape(metrics)

        async def one(i: int) -> None:
            obj = invoice(f"in_bench_{attach_pdf}_{i}", "cus_bench", due=now + timedelta(days=30))
            await client.send(event("invoice.finalized", obj, created=now))
            [accepted] = await client.send(
                event(
                    "invoice.paid",
                    dict(obj, status="paid", amount_paid=obj["amount_due"], amount_remaining=0),
                    created=now + timedelta(seconds=1),
                )
            )
            # Done when the workflow is (its emails sent and logged), awaited as the floor
            # awaits its workflows: polling the email log would run in the worker's
            # process and GIL and be charged to Relance (~3 % of its CPU, py-spy).
            await env.client.get_workflow_handle(accepted.workflow_id).result()

        await asyncio.gather(*(one(i) for i in range(n)))
        elapsed = time.perf_counter() - start
        worker1 = worker_cpu()
        cpu = _cpu_fields(worker0, worker1, client0, server0, layout)
        counts = per_unit(counts0, await settled_scrape(metrics), n)
        if (sent := sent_count(engine)) != 2 * n:
            raise SystemExit(f"{n} lifecycles completed with {sent} emails sent, not {2 * n}")
        history = await env.client.get_workflow_handle(f"invoice-in_bench_{attach_pdf}_0").fetch_history()
        activities = sum(1 for e in history.events if e.HasField("activity_task_scheduled_event_attributes"))
    return {
        "invoices": n,
        "emails": 2 * n,
        "seconds": round(elapsed, 2),
        "invoices_per_s": round(n / elapsed, 2),
        "emails_per_s": round(2 * n / elapsed, 2),
        **cpu,
        "cpu_seconds_pdf_processes": round(worker1[1] - worker0[1], 2),
        "activities_per_lifecycle": activities,
        "history_events_per_lifecycle": len(history.events),
        **counts,
    }


async def floor(env: WorkflowEnvironment, n: int, activities: int, metrics: int, layout: str, tmp: Path) -> dict:
    queue = f"floor-{uuid.uuid4().hex[:6]}"
    async with noop_worker(env, queue, layout, tmp) as worker_cpu:
        start, worker0, client0, server0 = time.perf_counter(), worker_cpu(), cpu_seconds(), server_cpu()
        counts0 = scrape(metrics)
        await asyncio.gather(
            *(
                env.client.execute_workflow(FloorWorkflow.run, activities, id=f"floor-{queue}-{i}", task_queue=queue)
                for i in range(n)
            )
        )
        elapsed = time.perf_counter() - start
        cpu = _cpu_fields(worker0, worker_cpu(), client0, server0, layout)
        counts = per_unit(counts0, await settled_scrape(metrics), n)
        history = await env.client.get_workflow_handle(f"floor-{queue}-0").fetch_history()
    return {
        "workflows": n,
        "activities_each": activities,
        "seconds": round(elapsed, 2),
        "workflows_per_s": round(n / elapsed, 2),
        **cpu,
        "history_events_per_workflow": len(history.events),
        **counts,
    }


async def skeleton(env: WorkflowEnvironment, n: int, metrics: int, layout: str, tmp: Path) -> dict:
    """The lifecycle's messages with no work (bench/skeleton_workflow.py), fed like the
    lifecycles are: two signal-with-starts carrying the same invoices, then the result."""
    queue = f"skeleton-{uuid.uuid4().hex[:6]}"
    now = datetime.now(UTC)
    async with noop_worker(env, queue, layout, tmp) as worker_cpu:
        start, worker0, client0, server0 = time.perf_counter(), worker_cpu(), cpu_seconds(), server_cpu()
        counts0 = scrape(metrics)

        async def one(i: int) -> None:
            obj = invoice(f"in_skeleton_{queue}_{i}", "cus_bench", due=now + timedelta(days=30))
            paid = dict(obj, status="paid", amount_paid=obj["amount_due"], amount_remaining=0)
            for kind, inv in (("invoice.finalized", obj), ("invoice.paid", paid)):
                handle = await env.client.start_workflow(
                    SkeletonWorkflow.run,
                    2,
                    id=f"skeleton-{queue}-{i}",
                    task_queue=queue,
                    start_signal=signal_name(SkeletonWorkflow.event),
                    start_signal_args=[event(kind, inv, created=now)],
                )
            await handle.result()

        await asyncio.gather(*(one(i) for i in range(n)))
        elapsed = time.perf_counter() - start
        cpu = _cpu_fields(worker0, worker_cpu(), client0, server0, layout)
        counts = per_unit(counts0, await settled_scrape(metrics), n)
        history = await env.client.get_workflow_handle(f"skeleton-{queue}-0").fetch_history()
    return {
        "workflows": n,
        "seconds": round(elapsed, 2),
        "workflows_per_s": round(n / elapsed, 2),
        **cpu,
        "activities_per_workflow": sum(
            1 for e in history.events if e.HasField("activity_task_scheduled_event_attributes")
        ),
        "history_events_per_workflow": len(history.events),
        **counts,
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--invoices", type=int, default=60)
    parser.add_argument("--pdfs", choices=["both", "on", "off"], default="both")
    parser.add_argument("--activity-threads", type=int, default=Config.model_fields["worker_activity_threads"].default)
    parser.add_argument(
        "--cached-workflows", type=int, default=Config.model_fields["worker_max_cached_workflows"].default
    )
    parser.add_argument(
        "--pollers",
        type=int,
        default=Config.model_fields["worker_workflow_task_pollers"].default,
        help="workflow and activity task pollers each",
    )
    parser.add_argument(
        "--layout",
        choices=["processes", "one-process"],
        default="processes",
        help="each worker in its own process, the events sent from this one (as in production), "
        "or everything in this process",
    )
    parser.add_argument("--out", default="throughput.json")
    args = parser.parse_args()
    knobs = dict(
        worker_activity_threads=args.activity_threads,
        worker_max_cached_workflows=args.cached_workflows,
        worker_workflow_task_pollers=args.pollers,
        worker_activity_task_pollers=args.pollers,
    )
    result: dict = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "worker": knobs,
        "layout": args.layout,
    }
    metrics = free_port()
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=dev_server_path(),
            ui=False,
            data_converter=DATA_CONVERTER,
            runtime=runtime(),
            search_attributes=list(sa.ALL),
            dev_server_extra_args=[
                "--db-filename",
                str(tmp / "temporal.db"),
                "--sqlite-pragma",
                "journal_mode=WAL",
                "--sqlite-pragma",
                "synchronous=NORMAL",
                "--metrics-port",
                str(metrics),
            ],
        )
        try:
            # Each measurement is followed at once by its floor, so both see the same load
            # from whatever else runs on the machine.
            if args.pdfs in ("both", "on"):
                pdfs_on = await lifecycles(env, args.invoices, True, tmp, knobs, metrics, args.layout)
                base_pdf = await floor(
                    env, args.invoices, pdfs_on["activities_per_lifecycle"], metrics, args.layout, tmp
                )
                result |= {
                    "pdfs_on": pdfs_on,
                    "temporal_floor_same_activity_count_as_pdfs_on": base_pdf,
                    "ratio_pdfs_on_to_floor": round(pdfs_on["invoices_per_s"] / base_pdf["workflows_per_s"], 2),
                }
            if args.pdfs in ("both", "off"):
                pdfs_off = await lifecycles(env, args.invoices, False, tmp, knobs, metrics, args.layout)
                base = await floor(env, args.invoices, pdfs_off["activities_per_lifecycle"], metrics, args.layout, tmp)
                shape = await skeleton(env, args.invoices, metrics, args.layout, tmp)
                result |= {
                    "pdfs_off": pdfs_off,
                    "temporal_floor_same_activity_count_as_pdfs_off": base,
                    "ratio_pdfs_off_to_floor": round(pdfs_off["invoices_per_s"] / base["workflows_per_s"], 2),
                    "lifecycle_skeleton_no_work": shape,
                    "ratio_skeleton_to_floor": round(shape["workflows_per_s"] / base["workflows_per_s"], 2),
                }
        finally:
            await env.shutdown()
            shutdown_pool()  # os._exit below would leave the PDF processes behind
    result["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
    sys.stdout.flush()
    os._exit(0)  # sdk-python#300: avoid the SDK's abort at interpreter exit
