"""Latency under load: payment event sent -> receipt in the outbox.

    .venv/bin/python bench/latency.py [--seconds 40] [--rate-off 3] [--rate-on 1.5]

On the real stack (bench/stack.py: dev server, a `relance worker` process, outbox), an
open-loop load: a new `send_invoice` invoice is finalized every 1/rate seconds (its
invoice email goes out), and 2 s after its finalization it is paid. For each payment the
latency is the receipt file's modification time in the outbox minus the wall-clock time
just before `invoice.paid` was sent. Run with PDFs off and on (the receipt then carries
the invoice and receipt PDFs), each at about half the stack's measured throughput.
The first 5 s are warm-up and left out. Writes bench/results/latency.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import Stack, mb  # noqa: E402
from relance.rules.outgoing import email_key_digest  # noqa: E402
from tests.support.events import customer, event, invoice  # noqa: E402

PAY_AFTER = 2.0
WARM_UP = 5.0


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


async def run(attach_pdf: bool, rate: float, seconds: float) -> dict:
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp_dir:
        async with Stack(Path(tmp_dir), attach_pdf=attach_pdf) as stack:
            await stack.client.send(event("customer.created", customer("cus_lat"), created=now))
            await asyncio.sleep(8)  # the worker is up and polling
            sent_at: dict[str, float] = {}
            cpu0 = stack.worker_cpu()
            start = time.perf_counter()

            async def lifecycle(i: int) -> None:
                obj = invoice(f"in_lat_{i}", "cus_lat", due=now + timedelta(days=30))
                await stack.client.send(event("invoice.finalized", obj, created=now))
                await asyncio.sleep(PAY_AFTER)
                paid = event(
                    "invoice.paid",
                    dict(obj, status="paid", amount_paid=obj["amount_due"], amount_remaining=0),
                    created=now + timedelta(seconds=1),
                )
                sent_at[obj["id"]] = time.time()
                await stack.client.send(paid)

            tasks = []
            n = int(seconds * rate)
            for i in range(n):
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(lifecycle(i)))
            await asyncio.gather(*tasks)
            deadline = time.perf_counter() + 600
            while stack.sent("receipt") < n:
                if time.perf_counter() > deadline:
                    raise TimeoutError("receipts missing")
                await asyncio.sleep(0.5)
            elapsed = time.perf_counter() - start
            cpu = stack.worker_cpu() - cpu0
            rss = stack.worker_rss()
            latencies = []
            for i in range(int(WARM_UP * rate), n):
                inv_id = f"in_lat_{i}"
                # Outbox names end with the email key: <time>_<kind>_<invoice>_<key>.eml
                [path] = stack.outbox.glob(f"*_{email_key_digest(f'{inv_id}:receipt:paid')}.eml")
                latencies.append(path.stat().st_mtime - sent_at[inv_id])
    ms = [x * 1000 for x in latencies]
    return {
        "pdfs": attach_pdf,
        "offered_invoices_per_s": rate,
        "invoices": n,
        "measured": len(ms),
        "seconds": round(elapsed, 1),
        "worker_cpu_share": round(cpu / elapsed, 2),  # 1.0 = one core
        "worker_rss_mb": mb(rss),
        "payment_to_receipt_ms": {
            "p50": round(percentile(ms, 50)),
            "p95": round(percentile(ms, 95)),
            "p99": round(percentile(ms, 99)),
            "max": round(max(ms)),
            "mean": round(statistics.fmean(ms)),
        },
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--rate-off", type=float, default=3.0, help="invoices/s with PDFs off")
    parser.add_argument("--rate-on", type=float, default=1.5, help="invoices/s with PDFs on")
    args = parser.parse_args()
    result = {
        "pdfs_off": await run(False, args.rate_off, args.seconds),
        "pdfs_on": await run(True, args.rate_on, args.seconds),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
    }
    result["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out = Path(__file__).parent / "results" / "latency.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
    sys.stdout.flush()
    os._exit(0)  # sdk-python#300: avoid the SDK's abort at interpreter exit
