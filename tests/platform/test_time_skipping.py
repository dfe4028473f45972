"""The time-skipping test server starts without the SDK core's warning about a capability
the Java test server does not advertise; other core warnings still come through."""

from __future__ import annotations

import logging

import pytest

from relance.platform.temporal_client import CORE_LOGGER, DATA_CONVERTER
from relance.platform.time_skipping import start_time_skipping

# As sdk-core 1.35 writes it, forwarded the way temporalio.runtime.LogForwardingConfig does.
CAPABILITY_WARNING = (
    "[sdk_core::temporalio_sdk_core::worker] Temporal Server 1.16.0 or newer is required to guarantee that the "
    "latest heartbeat details are preserved when an activity fails; the server did not advertise the "
    "activity_failure_include_heartbeat capability, so heartbeat details may be lost on failure {}"
)


def forward(message: str) -> None:
    core = logging.getLogger(CORE_LOGGER)
    name = f"{CORE_LOGGER}-sdk_core::temporalio_sdk_core::worker"
    core.handle(core.makeRecord(name, logging.WARNING, "(sdk-core)", 0, message, (), None))


async def test_no_capability_warning_once_a_test_server_is_started(caplog: pytest.LogCaptureFixture) -> None:
    env = await start_time_skipping(DATA_CONVERTER)
    try:
        caplog.set_level(logging.WARNING)
        forward(CAPABILITY_WARNING)
        forward("[sdk_core::temporalio_sdk_core::worker] some other core warning {}")
    finally:
        await env.shutdown()
    messages = [r.getMessage() for r in caplog.records]
    assert not [m for m in messages if "activity_failure_include_heartbeat" in m]
    assert any("some other core warning" in m for m in messages)
