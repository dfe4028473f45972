"""A worker process for the floor and the skeleton, so that in bench/throughput.py's
default layout they run as Relance does in production: the worker in its own process,
the events (here, the workflow starts) sent from another.

    python -m bench.noop_worker ADDRESS TASK_QUEUE
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from temporalio.client import Client  # noqa: E402
from temporalio.worker import Worker  # noqa: E402

from bench.floor_workflow import FloorWorkflow, noop  # noqa: E402
from bench.skeleton_workflow import SKELETON_ACTIVITIES, SkeletonWorkflow  # noqa: E402
from relance.platform.temporal_client import DATA_CONVERTER  # noqa: E402
from worker.sandbox import runner_for  # noqa: E402


async def main(address: str, task_queue: str) -> None:
    client = await Client.connect(address, data_converter=DATA_CONVERTER)
    # The same sandbox runner as Relance's worker: the floor is what Temporal can do with
    # the same worker set-up, minus Relance's work.
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[FloorWorkflow, SkeletonWorkflow],
        activities=[noop, *SKELETON_ACTIVITIES],
        workflow_runner=runner_for(client.data_converter),
    ):
        print("polling", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
