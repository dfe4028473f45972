"""Shared fixtures: a real Temporal time-skipping server, real databases, a real worker."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path

import psycopg
import pytest
from temporalio.testing import WorkflowEnvironment

from activities.transports.base import Transport
from activities.transports.outbox import OutboxTransport
from relance.client import RelanceClient
from relance.platform.config import Config
from relance.platform.temporal_client import DATA_CONVERTER
from relance.platform.time_skipping import start_time_skipping
from relance.storage.database import dispose_engine, get_engine
from tests.support.devserver import dev_server  # noqa: F401 - a session fixture, started on demand
from tests.support.harness import Harness, unique_queue
from tests.support.spy import secret_file, spy_server  # noqa: F401 - fixtures for renderers that must fetch nothing
from worker.main import build_worker, ensure_search_attributes

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@asynccontextmanager
async def time_skipping_server() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping test server of its own (~1 s to start)."""
    env = await start_time_skipping(DATA_CONVERTER)
    await ensure_search_attributes(env.client, "default")
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server per test (~0.15 s). Shared by tests, one server's clock
    stops skipping for good once a WebhookWorkflow whose parent has closed finishes
    (temporalio/sdk-java#2392), leaving every later test's clock in real time; any test
    that emits webhooks can set that off, depending on timing."""
    async with time_skipping_server() as env:
        yield env


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh database on the local PostgreSQL server for this test (~0.1 s): one shared
    by the session let rows of one test show in another's email log, so a test passed or
    failed by the order the tests ran in."""
    name = f"relance_test_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:  # pragma: no cover - environment problem
        pytest.fail(f"PostgreSQL on 127.0.0.1:5432 is required: {exc}")
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    yield url
    dispose_engine(url)
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'relance.db'}"
    yield url
    dispose_engine(url)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return Config(state_dir=tmp_path / "state", task_queue=unique_queue(), _env_file=None)


@asynccontextmanager
async def running_harness(
    env: WorkflowEnvironment, config: Config, database_url: str, transport: Transport
) -> AsyncIterator[Harness]:
    """A real worker with the given database and transport on the test's time-skipping server."""
    engine = get_engine(database_url)
    worker = build_worker(
        env.client, config, engine=engine, transport=transport, executor=ThreadPoolExecutor(max_workers=8)
    )
    async with worker:
        h = Harness(
            env=env,
            client=RelanceClient(env.client, config.task_queue),
            engine=engine,
            outbox=config.resolved_outbox_dir(),
            config=config,
            worker=worker,
        )
        try:
            yield h
        finally:
            # A test may run several harnesses on its server: the next one's signals to
            # the same ids must start fresh runs on its own task queue.
            await h.terminate_all()


@pytest.fixture
async def harness(time_env: WorkflowEnvironment, config: Config, sqlite_url: str) -> AsyncIterator[Harness]:
    """The embedded default: SQLite and the outbox."""
    async with running_harness(time_env, config, sqlite_url, OutboxTransport(config.resolved_outbox_dir())) as h:
        yield h
