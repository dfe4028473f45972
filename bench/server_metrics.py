"""What the dev server did for a measurement, read from its Prometheus endpoint.

CPU seconds move with whatever else runs on the machine; these counts do not. They show
what a change costs the server: its database writes, its gRPC requests, and whether
activity tasks went to the worker eagerly (in the reply to the workflow task that
scheduled them) or through the task queue's matching, which the server persists when no
poller is waiting (a worker whose activity slots are all busy has none waiting).
"""

from __future__ import annotations

import asyncio
import re
import socket
import urllib.request
from collections import defaultdict

_SAMPLE = re.compile(r"^(persistence_requests|service_requests)\{(.*)\} ([0-9.e+]+)$")
_OPERATION = re.compile(r'operation="([^"]*)"')
# Samples by (name, operation); a missing one reads as 0, as a counter does.
Tally = defaultdict[tuple[str, str], float]

_WRITES = ("Create", "Update", "Append", "Delete", "Complete", "RangeComplete", "Put", "Upsert", "Set", "Save")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port: int) -> Tally:
    counts: Tally = defaultdict(float)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        for line in response.read().decode().splitlines():
            sample = _SAMPLE.match(line)
            if sample is None:
                continue
            operation = _OPERATION.search(sample.group(2))
            counts[(sample.group(1), operation.group(1) if operation else "")] += float(sample.group(3))
    return counts


async def settled_scrape(port: int) -> Tally:
    """After a measurement: the server's reporter flushes its counters every second."""
    await asyncio.sleep(2)
    return scrape(port)


def per_unit(before: Tally, after: Tally, units: int) -> dict:
    """Per lifecycle (or per floor workflow): database writes, requests, activity tasks
    dispatched through matching."""
    diff = after.copy()
    for sample, value in before.items():
        diff[sample] -= value
    writes = sum(v for (kind, op), v in diff.items() if kind == "persistence_requests" and op.startswith(_WRITES))
    requests = sum(v for (kind, _), v in diff.items() if kind == "service_requests")
    return {
        "server_db_writes": round(writes / units, 1),
        "server_requests": round(requests / units, 1),
        "activity_tasks_through_matching": round(diff[("service_requests", "AddActivityTask")] / units, 1),
        "activity_heartbeats": round(diff[("service_requests", "RecordActivityTaskHeartbeat")] / units, 1),
    }
