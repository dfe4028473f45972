"""Scale: N open invoice workflows waiting on reminder timers, then all paid.

    .venv/bin/python bench/scale.py --invoices 10000 [--concurrency 64]

On the real stack (bench/stack.py: dev server on SQLite with WAL, a `relance worker`
process, outbox transport), PDFs off so the run measures orchestration:

1. `invoice.finalized` for N `send_invoice` invoices due in 30 days (signal-with-start
   through RelanceClient, at most --concurrency in flight): the invoice email goes out
   and three reminder timers (-3, 0, +7 days) are planned. Measured: events accepted/s,
   and the time until every workflow is parked on its timers (invoice emails sent, and
   the Temporal visibility count of running invoice workflows with a due date = N).
2. Memory once all are parked: worker process tree RSS, dev server RSS (and peaks).
3. `invoice.paid` for all N: time until all N workflows completed (timers cancelled,
   receipts delivered), and the receipts counted in the email log and the outbox.

Results are merged into bench/results/scale.json under the key N.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import Stack, mb  # noqa: E402
from tests.support.events import customer, event, invoice  # noqa: E402

RUNNING = "WorkflowType = 'InvoiceWorkflow' AND ExecutionStatus = 'Running' AND DueAt IS NOT NULL"
COMPLETED = "WorkflowType = 'InvoiceWorkflow' AND ExecutionStatus = 'Completed'"


async def send_all(stack: Stack, payloads: list[dict], concurrency: int) -> float:
    """Sends every event with at most `concurrency` in flight; returns the seconds taken."""
    sem = asyncio.Semaphore(concurrency)

    async def one(p: dict) -> None:
        async with sem:
            await stack.client.send(p)

    start = time.perf_counter()
    await asyncio.gather(*(one(p) for p in payloads))
    return time.perf_counter() - start


async def wait_until(check, timeout: float, peaks: dict, stack: Stack) -> float:
    """Polls `check` (an async predicate) every second, tracking peak memory meanwhile."""
    start = time.perf_counter()
    while True:
        peaks["worker"] = max(peaks["worker"], stack.worker_rss())
        peaks["server"] = max(peaks["server"], stack.server_rss())
        if await check():
            return time.perf_counter() - start
        if time.perf_counter() - start > timeout:
            raise TimeoutError(f"not done after {timeout} s")
        await asyncio.sleep(1.0)


async def run(n: int, concurrency: int, timeout: float) -> dict:
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp_dir:
        async with Stack(Path(tmp_dir), attach_pdf=False) as stack:
            await stack.client.send(event("customer.created", customer("cus_scale"), created=now))
            await asyncio.sleep(8)  # the worker has started, imported everything and taken the customer
            peaks = {"worker": stack.worker_rss(), "server": stack.server_rss()}
            idle = {"worker_rss_mb": mb(peaks["worker"]), "server_rss_mb": mb(peaks["server"])}
            invoices = [invoice(f"in_scale_{i}", "cus_scale", due=now + timedelta(days=30)) for i in range(n)]
            cpu0 = stack.worker_cpu()
            t0 = time.perf_counter()
            accept_s = await send_all(
                stack, [event("invoice.finalized", obj, created=now) for obj in invoices], concurrency
            )

            async def parked() -> bool:
                return stack.sent("invoice_finalized") >= n and await stack.count(RUNNING) >= n

            await wait_until(parked, timeout, peaks, stack)
            parked_s = time.perf_counter() - t0
            cpu_start = stack.worker_cpu() - cpu0
            await asyncio.sleep(5)  # let the worker settle before reading its memory
            at_rest = {
                "worker_rss_mb": mb(stack.worker_rss()),
                "server_rss_mb": mb(stack.server_rss()),
                "worker_rss_peak_mb": mb(peaks["worker"]),
                "server_rss_peak_mb": mb(peaks["server"]),
            }

            paid = [
                event(
                    "invoice.paid",
                    dict(obj, status="paid", amount_paid=obj["amount_due"], amount_remaining=0),
                    created=now + timedelta(seconds=1),
                )
                for obj in invoices
            ]
            cpu1 = stack.worker_cpu()
            t1 = time.perf_counter()
            pay_accept_s = await send_all(stack, paid, concurrency)

            async def completed() -> bool:
                return stack.sent("receipt") >= n and await stack.count(COMPLETED) >= n

            await wait_until(completed, timeout, peaks, stack)
            cancel_s = time.perf_counter() - t1
            cpu_pay = stack.worker_cpu() - cpu1
            receipts_logged = stack.sent("receipt")
            eml_files = sum(1 for _ in stack.outbox.glob("*.eml"))
            still_running = await stack.count("WorkflowType = 'InvoiceWorkflow' AND ExecutionStatus = 'Running'")
    return {
        "invoices": n,
        "pdfs": False,
        "concurrency": concurrency,
        "idle": idle,
        "start": {
            "events_accepted_per_s": round(n / accept_s, 1),
            "seconds_until_all_parked": round(parked_s, 1),
            "workflows_parked_per_s": round(n / parked_s, 1),
            "worker_cpu_seconds": round(cpu_start, 1),
        },
        "parked": at_rest,
        "payment": {
            "events_accepted_per_s": round(n / pay_accept_s, 1),
            "seconds_until_all_completed": round(cancel_s, 1),
            "workflows_completed_per_s": round(n / cancel_s, 1),
            "worker_cpu_seconds": round(cpu_pay, 1),
            "receipts_in_email_log": receipts_logged,
            "eml_files_in_outbox": eml_files,  # invoice emails + receipts
            "invoice_workflows_still_running": still_running,
        },
        "peaks": {"worker_rss_mb": mb(peaks["worker"]), "server_rss_mb": mb(peaks["server"])},
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--invoices", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--timeout", type=float, default=3600.0, help="per phase, seconds")
    args = parser.parse_args()
    result = await run(args.invoices, args.concurrency, args.timeout)
    result["machine"] = {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
    }
    out = Path(__file__).parent / "results" / "scale.json"
    merged = json.loads(out.read_text()) if out.exists() else {}
    merged[str(args.invoices)] = result
    out.write_text(json.dumps(dict(sorted(merged.items(), key=lambda kv: int(kv[0]))), indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
    sys.stdout.flush()
    os._exit(0)  # sdk-python#300: avoid the SDK's abort at interpreter exit
