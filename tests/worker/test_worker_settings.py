"""The worker's tuning knobs (RELANCE_WORKER_*) reach the Temporal worker, and bad values
are refused naming the setting. The defaults come from bench runs (bench/results/NOTES.md)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from pydantic import ValidationError

from activities.transports.outbox import OutboxTransport
from relance.platform.config import Config
from relance.storage.database import get_engine
from worker.main import build_worker


async def test_worker_knobs_from_environment(time_env, tmp_path, sqlite_url, monkeypatch) -> None:
    monkeypatch.setenv("RELANCE_WORKER_ACTIVITY_THREADS", "7")
    monkeypatch.setenv("RELANCE_WORKER_MAX_CACHED_WORKFLOWS", "321")
    monkeypatch.setenv("RELANCE_WORKER_WORKFLOW_TASK_POLLERS", "3")
    monkeypatch.setenv("RELANCE_WORKER_ACTIVITY_TASK_POLLERS", "4")
    config = Config(state_dir=tmp_path / "state", task_queue="worker-knobs", _env_file=None)
    worker = build_worker(
        time_env.client, config, engine=get_engine(sqlite_url), transport=OutboxTransport(config.resolved_outbox_dir())
    )
    async with worker:  # it starts with them (polls, then shuts down cleanly)
        settings = worker.config()
        assert settings["max_concurrent_activities"] == 7  # one activity per thread
        executor = settings["activity_executor"]
        assert isinstance(executor, ThreadPoolExecutor) and executor._max_workers == 7
        assert settings["max_cached_workflows"] == 321
        assert settings["max_concurrent_workflow_task_polls"] == 3
        assert settings["max_concurrent_activity_task_polls"] == 4


def test_worker_defaults() -> None:
    config = Config(_env_file=None)
    assert (
        config.worker_activity_threads,
        config.worker_max_cached_workflows,
        config.worker_workflow_task_pollers,
        config.worker_activity_task_pollers,
    ) == (16, 1000, 5, 5)


@pytest.mark.parametrize(
    "name, value",
    [
        ("RELANCE_WORKER_ACTIVITY_THREADS", "0"),
        ("RELANCE_WORKER_MAX_CACHED_WORKFLOWS", "-1"),
        ("RELANCE_WORKER_WORKFLOW_TASK_POLLERS", "many"),
    ],
)
def test_bad_worker_knob_names_the_setting(monkeypatch, name, value) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as err:
        Config(_env_file=None)
    assert name.removeprefix("RELANCE_").lower() in str(err.value)
