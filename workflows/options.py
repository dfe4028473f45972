"""The options of every activity the workflows run, typed (`workflow.ActivityConfig`):

    await workflow.execute_activity_method(InvoiceActivities.load_invoice, invoice_id, **RECORD)

A timeout or a retry policy is an activity option, not a command the history checks:
changing one replays unchanged."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

# Bugs and missing data do not fix themselves by retrying; outages do.
_PERMANENT = ["ValueError", "LookupError", "ValidationError", "TemplateError", "UndefinedError"]

# A worker that dies (crash, OOM, SIGKILL, a lost machine) holds its activities until a
# timeout tells Temporal to retry them elsewhere. These activities heartbeat while they
# work (rendering and sending can legitimately take minutes), so a dead worker's emails
# resume after HEARTBEAT, not after the whole start-to-close timeout (up to 5 minutes).
HEARTBEAT = timedelta(seconds=30)

# Short database reads and writes.
RECORD = workflow.ActivityConfig(start_to_close_timeout=timedelta(seconds=30))

PREPARE = workflow.ActivityConfig(
    start_to_close_timeout=timedelta(minutes=1),
    heartbeat_timeout=HEARTBEAT,
    retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5), non_retryable_error_types=_PERMANENT),
)
RENDER = workflow.ActivityConfig(
    start_to_close_timeout=timedelta(minutes=5),
    heartbeat_timeout=HEARTBEAT,
    retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5), non_retryable_error_types=_PERMANENT),
)
# A provider outage is retried with back-off for up to 3 days, then the email is failed.
DELIVER = workflow.ActivityConfig(
    start_to_close_timeout=timedelta(minutes=2),
    schedule_to_close_timeout=timedelta(days=3),
    heartbeat_timeout=HEARTBEAT,
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=5), backoff_coefficient=2.0, maximum_interval=timedelta(minutes=30)
    ),
)

# Which endpoints subscribe to a webhook event type, asked by a local activity.
WEBHOOK_LOOKUP = workflow.LocalActivityConfig(
    start_to_close_timeout=timedelta(seconds=10),
    schedule_to_close_timeout=timedelta(minutes=2),
    retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=10)),
)
# 5 s, 10 s, 20 s ... capped at 1 h: about 80 attempts over 3 days (a Retry-After from the
# endpoint, up to 1 h, replaces the next interval). Retries add nothing to the history.
WEBHOOK_DELIVER = workflow.ActivityConfig(
    start_to_close_timeout=timedelta(minutes=1),
    schedule_to_close_timeout=timedelta(days=3),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=5), backoff_coefficient=2.0, maximum_interval=timedelta(hours=1)
    ),
)


def summarized(config: workflow.ActivityConfig, summary: str) -> workflow.ActivityConfig:
    """`config` with the line the Temporal UI shows for this activity (ids only: stored in clear)."""
    return {**config, "summary": summary}
