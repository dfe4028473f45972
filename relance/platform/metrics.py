"""Relance's own Prometheus metrics, and the endpoints that serve them.

Labels are small fixed sets (email kinds, transports, the reasons below), never customer
or invoice ids. Emails are counted where the email log records their outcome, once the
row is committed: an activity retry that finds the row already final counts nothing.

Workflow code never imports this module (it would be re-imported by the sandbox and is
not deterministic): activities and the processes around them record, workflows do not.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import StrEnum
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, start_http_server

from relance.contracts.kinds import EmailKind
from relance.platform.config import Config, SettingError, parse_bind


class FailureReason(StrEnum):
    """Why an email ended `failed` in the log."""

    rejected = "rejected"  # the provider refused it for good (bad address, 400/413, SMTP 5xx)
    invalid = "invalid"  # refused before sending: an address or header failed Relance's checks
    no_recipient = "no_recipient"  # the customer has no email address
    held = "held"  # the provider refused Relance's credentials until the 3-day window ran out
    provider_unavailable = "provider_unavailable"  # transient failures outlasted the 3-day window
    error = "error"  # it could not be prepared or its PDFs rendered (a bug or missing data)


class SuppressionReason(StrEnum):
    """Why an email was, on purpose, not sent."""

    switched_off = "switched_off"  # the account turned this kind off (logged `skipped`)
    suppressed_address = "suppressed_address"  # every recipient bounced or reported spam (`skipped`)
    duplicate = "duplicate"  # asked for again; the log already has it (sent, failed or skipped)


class RetryReason(StrEnum):
    transient = "transient"  # 429, 5xx, network: retried with back-off
    held = "held"  # credentials refused: waiting for a working key


EMAILS_SENT = Counter("relance_emails_sent", "Emails the provider accepted (email log: sent).", ["kind", "transport"])
EMAILS_FAILED = Counter("relance_emails_failed", "Emails that ended failed in the email log.", ["kind", "reason"])
EMAILS_SUPPRESSED = Counter("relance_emails_suppressed", "Emails not sent on purpose.", ["kind", "reason"])
DELIVERY_RETRIES = Counter(
    "relance_delivery_retries", "Delivery attempts that will be retried.", ["transport", "reason"]
)
DELIVERY_REPORTS = Counter(
    "relance_delivery_reports",
    "Provider delivery reports applied (SendGrid Event Webhook), by status.",
    ["provider", "status"],
)

RENDER_SECONDS = Histogram(
    "relance_render_seconds",
    "Rendering one email (subject, HTML, text).",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
PDF_RENDER_SECONDS = Histogram(
    "relance_pdf_render_seconds",
    "Rendering one PDF, from the worker's side of the process pool (queueing included).",
    ["document"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
DELIVERY_SECONDS = Histogram(
    "relance_delivery_seconds",
    "One call to the transport, whatever its outcome.",
    ["transport"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)


def prime(transport: str) -> None:
    """Create every kind's series at zero, so the first failure is an increase a rate()
    or increase() alert sees, not a series appearing from nothing."""
    for kind in EmailKind:
        EMAILS_SENT.labels(kind.value, transport)
        for reason in FailureReason:
            EMAILS_FAILED.labels(kind.value, reason.value)
        for suppression in SuppressionReason:
            EMAILS_SUPPRESSED.labels(kind.value, suppression.value)
    for retry in RetryReason:
        DELIVERY_RETRIES.labels(transport, retry.value)


# ---- the endpoint ------------------------------------------------------------------------


@dataclass
class MetricsServer:
    bind: str
    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_metrics_server(
    bind: str, registry: CollectorRegistry = REGISTRY, setting: str = "RELANCE_METRICS_BIND"
) -> MetricsServer:
    """Serve `registry` at http://<bind>/metrics from a daemon thread. A port already taken
    is a SettingError naming the setting: a worker without its metrics would go unnoticed."""
    host, port = parse_bind(bind)
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise SettingError(f"{setting}={bind}: cannot serve metrics there: {exc.strerror or exc}") from None
    return MetricsServer(bind=bind, server=server, thread=thread)


_lock = threading.Lock()
_served: MetricsServer | None = None


def serve_metrics(config: Config) -> MetricsServer | None:
    """Both endpoints a long-running process serves, as the settings ask: Relance's own on
    RELANCE_METRICS_BIND, the Temporal SDK's on RELANCE_TEMPORAL_METRICS_BIND (through the
    process's SDK runtime). Once per process: `relance dev` runs the worker and the API in
    one process, and both call this."""
    global _served
    served = None
    if config.metrics_bind:
        with _lock:
            if _served is None:
                _served = start_metrics_server(config.metrics_bind)
            elif _served.bind != config.metrics_bind:
                raise SettingError(
                    f"RELANCE_METRICS_BIND={config.metrics_bind}: this process already serves metrics on {_served.bind}"
                )
            served = _served
    from relance.platform.temporal_client import runtime  # the SDK: a second of imports, after the cheap check

    runtime(config)
    return served
