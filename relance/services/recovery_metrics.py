"""The recovery report as Prometheus gauges, computed when scraped.

Gauges at scrape rather than counters where payments are recorded: half the numbers are
stocks (still open, voided, the recovery rate) that a counter cannot express; computed
from the same report as the API, the two never disagree; and nothing is added to the
activity that records payments. The window is the invoices finalized in the last 30 days
(by finalization, as the report's months), read through ix_invoices_finalized_at and
cached for a minute so several scrapers cost one query. Labels are the currency, the
outcome and the step key (`reminder:+3`, bounded by the reminder schedule), never an
invoice or a customer.

Registered by the API process (relance.api.server), which serves the report. Several
API replicas expose the same values: aggregate them with max(), not sum()."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine

from relance.contracts.recovery import MonthRecovery, Tally
from relance.services.recovery import compute

log = logging.getLogger(__name__)

WINDOW = timedelta(days=30)
CACHE_SECONDS = 60.0

OUTCOMES = (
    "invoiced",
    "paid",
    "paid_before_due",
    "failed",
    "recovered_after_failure",
    "recovered_by_retry_alone",
    "open",
    "void",
    "uncollectible",
)


class RecoveryCollector(Collector):
    def __init__(self, engine: Engine, *, window: timedelta = WINDOW, cache_seconds: float = CACHE_SECONDS) -> None:
        self.engine = engine
        self.window = window
        self.cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._cached: tuple[float, list[MonthRecovery]] | None = None

    def _months(self) -> list[MonthRecovery]:
        """The window's rows; on a database error the last ones computed (or none), so
        one failing query does not take every other series of the scrape down with it."""
        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] >= self.cache_seconds:
                end = datetime.now(UTC)
                try:
                    self._cached = (now, compute(self.engine, end - self.window, end).months)
                except Exception:
                    log.exception("recovery metrics: the report could not be computed")
                    return self._cached[1] if self._cached else []
            return self._cached[1]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        window = f"{self.window.days} days"
        invoices = GaugeMetricFamily(
            "relance_recovery_invoices",
            f"Invoices finalized in the last {window}, by outcome (see GET /v1/analytics/recovery).",
            labels=["currency", "outcome"],
        )
        amounts = GaugeMetricFamily(
            "relance_recovery_amount",
            f"Amounts (minor units) of the invoices finalized in the last {window}, by outcome.",
            labels=["currency", "outcome"],
        )
        steps = GaugeMetricFamily(
            "relance_recovery_paid_after_step",
            f"Invoices finalized in the last {window} and paid, by the email that came last before payment.",
            labels=["currency", "step"],
        )
        rate = GaugeMetricFamily(
            "relance_recovery_rate",
            f"Amount recovered after a failed payment over the amount failed (last {window}).",
            labels=["currency"],
        )
        per_currency: dict[str, dict[str, Tally]] = {}
        per_step: dict[tuple[str, str], int] = {}
        for m in self._months():
            totals = per_currency.setdefault(m.currency, {o: Tally() for o in OUTCOMES})
            for outcome in OUTCOMES:
                tally: Tally = getattr(m, outcome)
                totals[outcome].count += tally.count
                totals[outcome].amount += tally.amount
            for s in m.paid_after_step:
                per_step[(m.currency, s.key)] = per_step.get((m.currency, s.key), 0) + s.count
        for currency, totals in sorted(per_currency.items()):
            for outcome, tally in totals.items():
                invoices.add_metric([currency, outcome], tally.count)
                amounts.add_metric([currency, outcome], tally.amount)
            failed = totals["failed"].amount
            if failed:
                rate.add_metric([currency], totals["recovered_after_failure"].amount / failed)
        for (currency, step), count in sorted(per_step.items()):
            steps.add_metric([currency, step], count)
        yield from (invoices, amounts, steps, rate)


_registered: dict[int, RecoveryCollector] = {}
_lock = threading.Lock()


def register_recovery_metrics(engine: Engine, registry: CollectorRegistry = REGISTRY) -> RecoveryCollector:
    """Once per registry (`relance dev` may start the API more than once in a process);
    a later call moves it to the newest engine."""
    with _lock:
        collector = _registered.get(id(registry))
        if collector is None:
            collector = _registered[id(registry)] = RecoveryCollector(engine)
            registry.register(collector)
        elif collector.engine is not engine:
            collector.engine, collector._cached = engine, None
        return collector
