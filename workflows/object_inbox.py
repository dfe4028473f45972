"""The inbox every customer-level workflow uses: deduplicated signals, processed in order,
a timer raced against new signals, and the workflow's business clock."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from relance.contracts.models import ObjectSignal

MAX_SEEN_IDS = 200


class ObjectInbox:
    def __init__(self) -> None:
        self.signals: list[ObjectSignal] = []
        self._seen: list[str] = []
        self.busy = True
        self.offset = timedelta(0)

    def accept(self, signal: ObjectSignal) -> None:
        if signal.event_id in self._seen:
            return
        self._seen.append(signal.event_id)
        del self._seen[:-MAX_SEEN_IDS]
        self.signals.append(signal)

    def pop(self) -> ObjectSignal | None:
        return self.signals.pop(0) if self.signals else None

    def is_busy(self) -> bool:
        return self.busy or bool(self.signals)

    def now(self) -> datetime:
        return workflow.now() - self.offset

    async def wait(self, until: datetime | None, idle: timedelta | None = None) -> bool:
        """Wait for a signal, or until `until` (business time), or for `idle` if there is no
        deadline. True when a signal arrived, False when the time ran out."""
        timeout: float | None = None
        if until is not None:
            timeout = max((until - self.now()).total_seconds(), 0.001)
        elif idle is not None:
            timeout = idle.total_seconds()
        self.busy = False
        try:
            await workflow.wait_condition(lambda: bool(self.signals), timeout=timeout)
            return True
        except TimeoutError:
            return False
        finally:
            self.busy = True


def planned(at: datetime, now: datetime) -> datetime:
    """The time to report for a timed email: its slot when the timer fired on time (the
    callback runs a few ms later), the real time when it fired late (after an outage)."""
    return at if now - at < timedelta(minutes=1) else now
