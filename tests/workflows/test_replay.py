"""Safe deploys. Recorded histories of every workflow type and path (tests/histories/,
see record.py there) must replay with the current code, and the commands each workflow
issues must not change without a `workflow.patched` marker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from relance.platform.temporal_client import DATA_CONVERTER
from tests.histories.record import run_scenarios
from worker.main import WORKFLOWS
from worker.sandbox import SANDBOX, runner_for

HISTORIES = sorted((Path(__file__).parents[1] / "histories").glob("*.json"))


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text())


# The plain sandbox, and the worker's (the same sandbox, its payloads taking no context).
RUNNERS = {"sandbox": SANDBOX, "worker": runner_for(DATA_CONVERTER)}


@pytest.mark.parametrize("runner", RUNNERS)
@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_recorded_history_replays(path: Path, runner: str) -> None:
    replayer = Replayer(workflows=WORKFLOWS, data_converter=DATA_CONVERTER, workflow_runner=RUNNERS[runner])
    await replayer.replay_workflow(load(path))


def test_every_workflow_type_has_a_recorded_history() -> None:
    recorded = {
        json.loads(p.read_text())["events"][0]["workflowExecutionStartedEventAttributes"]["workflowType"]["name"]
        for p in HISTORIES
    }
    assert recorded == {w.__name__ for w in WORKFLOWS}


def fingerprint(history: WorkflowHistory) -> list[str]:
    """The commands a workflow issued, in order: activities by type, timers, patches."""
    out = []
    for ev in history.events:
        kind = ev.WhichOneof("attributes")
        if kind == "activity_task_scheduled_event_attributes":
            out.append("activity:" + ev.activity_task_scheduled_event_attributes.activity_type.name)
        elif kind == "timer_started_event_attributes":
            out.append("timer")
        elif kind == "marker_recorded_event_attributes":
            details = ev.marker_recorded_event_attributes.details
            # Core writes a patch marker's id as JSON under "patch-data": without the id,
            # a new patch would look like any patch already recorded.
            patch = json.loads(details["patch-data"].payloads[0].data)["id"] if "patch-data" in details else ""
            out.append(f"marker:{ev.marker_recorded_event_attributes.marker_name}:{patch}")
        elif kind in (
            "upsert_workflow_search_attributes_event_attributes",
            "workflow_execution_continued_as_new_event_attributes",
            "workflow_execution_completed_event_attributes",
        ):
            out.append(kind.removesuffix("_event_attributes"))
    return out


async def test_commands_change_only_behind_a_patch() -> None:
    fresh = await run_scenarios()
    for path in HISTORIES:
        recorded = fingerprint(load(path))
        now = fingerprint(fresh[path.stem])
        if now != recorded:
            assert any(c.startswith("marker:") for c in now if c not in recorded), (
                f"{path.stem}: the workflow now issues different commands without a workflow.patched() marker.\n"
                f"recorded: {recorded}\nnow:      {now}\n"
                "Gate the change with workflow.patched(...), then record new histories "
                "(python -m tests.histories.record) and keep the old ones."
            )
