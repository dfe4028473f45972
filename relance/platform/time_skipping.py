"""Starting Temporal's time-skipping test server the same way everywhere (the simulator,
the tests, the recorded histories).

The Java test server does not advertise the `activity_failure_include_heartbeat`
capability, so the SDK core warns on every worker it starts that heartbeat details may
be lost when an activity fails. No SDK option turns the check off, and Relance's
activities heartbeat without details, so nothing is lost: that one warning is dropped,
for processes that start a test server; every other core log still goes through."""

from __future__ import annotations

import logging

from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment

from relance.platform.binaries import test_server_path
from relance.platform.temporal_client import CORE_LOGGER, runtime

UNADVERTISED_CAPABILITY = "activity_failure_include_heartbeat"


class _UnadvertisedCapability(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return UNADVERTISED_CAPABILITY not in record.getMessage()


def quiet_test_server_capabilities() -> None:
    core = logging.getLogger(CORE_LOGGER)
    if not any(isinstance(f, _UnadvertisedCapability) for f in core.filters):
        core.addFilter(_UnadvertisedCapability())


async def start_time_skipping(data_converter: DataConverter) -> WorkflowEnvironment:
    quiet_test_server_capabilities()
    return await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=test_server_path(), data_converter=data_converter, runtime=runtime()
    )
