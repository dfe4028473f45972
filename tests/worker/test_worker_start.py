"""`run_worker`, as `relance worker` and `relance dev` call it, against the real dev
server: what it does before it polls."""

from __future__ import annotations

import asyncio

import pytest

import relance.rendering.email as render
import worker.main as worker_main
from relance.platform.config import Config
from relance.rendering.i18n import supported_locales
from tests.support.devserver import DevServer
from tests.support.harness import unique_queue


async def test_the_worker_compiles_every_locales_templates_before_it_polls(
    dev_server: DevServer, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps: list[str] = []
    warm, build_worker = render.warm, worker_main.build_worker

    def spy_warm(*args, **kwargs):
        warm(*args, **kwargs)
        steps.append("templates compiled")

    def spy_build_worker(*args, **kwargs):
        steps.append("worker built")
        return build_worker(*args, **kwargs)

    monkeypatch.setattr(render, "warm", spy_warm)
    monkeypatch.setattr(worker_main, "build_worker", spy_build_worker)
    config = Config(
        state_dir=tmp_path / "state",
        temporal_address=dev_server.address,
        task_queue=unique_queue(),
        pdf_processes=1,
        _env_file=None,
    )
    stop = asyncio.Event()
    running = asyncio.create_task(worker_main.run_worker(config, stop))
    for _ in range(600):
        if "worker built" in steps or running.done():
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(running, 60)
    assert steps == ["templates compiled", "worker built"]
    # Every shipped locale's templates are compiled in its environments: the HTML one
    # holds all but the text parts, the text one all but the HTML parts.
    for locale in supported_locales():
        for env, other in ((render.email_environment(locale), ".txt"), (render.text_environment(locale), ".html")):
            assert env.cache is not None
            compiled = {name for _, name in env.cache.keys()}
            assert compiled == {n for n in env.list_templates() if not n.endswith(other)}, locale
