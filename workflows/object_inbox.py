"""What every object workflow (card, subscription, credit note, refund) shares: an inbox of
deduplicated signals processed in order, a timer raced against new signals, the
workflow's business clock, and the `busy` query.

    @workflow.defn
    class CardWorkflow(ObjectWorkflow[CardSignal]):
        @workflow.signal
        def event(self, signal: CardSignal) -> None:
            self.inbox.accept(signal)

The signal is declared by each workflow, not here: Temporal decodes a signal's payload
to the type its handler declares, and a type variable would decode to its bound."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Generic, TypeVar

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from relance.contracts.models import EventSignal, ObjectWorkflowInput

MAX_SEEN_IDS = 200

S = TypeVar("S", bound=EventSignal)


class ObjectInbox(Generic[S]):
    def __init__(self) -> None:
        self.signals: list[S] = []
        self._seen: list[str] = []
        self.busy = True
        self.offset = timedelta(0)

    def accept(self, signal: S) -> None:
        if signal.event_id in self._seen:
            return
        self._seen.append(signal.event_id)
        del self._seen[:-MAX_SEEN_IDS]
        self.signals.append(signal)

    def pop(self) -> S | None:
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


class ObjectWorkflow(Generic[S]):
    """The base of the object workflows: `self.inbox`, the `busy` query, and `start`."""

    def __init__(self) -> None:
        self.inbox: ObjectInbox[S] = ObjectInbox()

    @workflow.query
    def busy(self) -> bool:
        return self.inbox.is_busy()

    def start(self, inp: ObjectWorkflowInput) -> None:
        """The first step of `run`: the business clock."""
        self.inbox.offset = timedelta(seconds=inp.clock_offset_seconds)


def planned(at: datetime, now: datetime) -> datetime:
    """The time to report for a timed email: its slot when the timer fired on time (the
    callback runs a few ms later), the real time when it fired late (after an outage)."""
    return at if now - at < timedelta(minutes=1) else now
