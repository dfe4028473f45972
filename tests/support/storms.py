"""Invoice stories and the storms made of them, for tests/faults/test_event_storms.py.

A *story* is what a billing backend really emits for one invoice, each event dated one
minute after the previous: finalized, then maybe payment failures and a 3-D Secure
request, maybe a due-date change, then maybe an ending (paid, voided, marked
uncollectible, or uncollectible then paid). Event objects are cumulative snapshots, as
Stripe sends them: a `paid` event after a due-date change carries the new due date.

A *storm* delivers the same events duplicated, reordered and partly late. Events are
built per namespace (`ns`), so the same story can run twice on one server and database
(once as the storm, once in canonical order) without sharing ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from tests.support.events import customer, event, invoice

ENDINGS = (None, "paid", "voided", "uncollectible", "uncollectible+paid")
TERMINAL_TYPES = frozenset({"invoice.paid", "invoice.voided"})
# The emails an event itself triggers (reminders and receipts are not among them: the
# first depends on the merged due date and status, the second on `paid`, whatever order).
EVENT_EMAILS = {
    "invoice.finalized": "invoice_finalized",
    "invoice.payment_failed": "payment_failed",
    "invoice.payment_action_required": "payment_action_required",
}


@dataclass(frozen=True)
class Story:
    customer: int  # index into the example's customers
    collection_method: str
    failures: int  # 0, 1 (payment_failed) or 2 (then payment_action_required)
    moves_due_date: bool
    ending: str | None


@dataclass(frozen=True)
class Step:
    """One event of one story: its position fixes its `created` time."""

    story: int
    type: str
    minute: int
    fields: dict[str, Any]


def story_steps(index: int, story: Story, due: datetime, moved_due: datetime) -> list[Step]:
    send_invoice = story.collection_method == "send_invoice"
    current: dict[str, Any] = dict(
        status="open", collection_method=story.collection_method, due=due if send_invoice else None, attempt_count=0
    )
    steps = [Step(index, "invoice.finalized", 0, dict(current))]
    for attempt, kind in ((1, "invoice.payment_failed"), (2, "invoice.payment_action_required"))[: story.failures]:
        current["attempt_count"] = attempt
        steps.append(Step(index, kind, len(steps), dict(current)))
    if story.moves_due_date and send_invoice:
        current["due"] = moved_due
        steps.append(Step(index, "invoice.updated", len(steps), dict(current)))
    ending = story.ending or ""
    if ending.startswith("uncollectible"):
        current["status"] = "uncollectible"
        steps.append(Step(index, "invoice.marked_uncollectible", len(steps), dict(current)))
    if ending.endswith("paid"):
        current["status"] = "paid"
        steps.append(Step(index, "invoice.paid", len(steps), dict(current)))
    if ending == "voided":
        current["status"] = "void"
        steps.append(Step(index, "invoice.voided", len(steps), dict(current)))
    return steps


@dataclass(frozen=True)
class Storm:
    stories: list[Story]
    n_customers: int
    order: list[int]  # delivery order: indexes into the canonical step list, with repeats
    late_from: int  # deliveries from this position on arrive after the clock moved a day

    def steps(self, due: datetime, moved_due: datetime) -> list[Step]:
        """Every distinct event, in canonical (`created`) order."""
        all_steps = [s for i, story in enumerate(self.stories) for s in story_steps(i, story, due, moved_due)]
        return sorted(all_steps, key=lambda s: (s.minute, s.story))


def invoice_id(ns: str, story: int) -> str:
    return f"in_{ns}_{story}"


def customer_id(ns: str, index: int) -> str:
    return f"cus_{ns}_{index}"


def customer_events(ns: str, n: int, at: datetime) -> list[dict[str, Any]]:
    return [
        event(
            "customer.created",
            customer(customer_id(ns, k), email=f"ap{k}@customer.test"),
            created=at,
            event_id=f"evt_{ns}_cus{k}",
        )
        for k in range(n)
    ]


def build_event(ns: str, storm: Storm, step: Step, index: int, base: datetime) -> dict[str, Any]:
    """The event for `step` in namespace `ns`. Its id is stable within the namespace, so
    a redelivery is the same event, as Stripe's retries are."""
    fields = dict(step.fields)
    status = fields.pop("status")
    obj = invoice(
        invoice_id(ns, step.story), customer_id(ns, storm.stories[step.story].customer), status=status, **fields
    )
    if status == "paid":
        obj.update(amount_paid=obj["amount_due"], amount_remaining=0)
    return event(
        step.type, obj, created=base + timedelta(minutes=step.minute, seconds=step.story), event_id=f"evt_{ns}_{index}"
    )


def moot_keys(storm: Storm, steps: list[Step]) -> set[tuple[int, str, str]]:
    """(story, kind, occurrence) of the event-triggered emails the product deliberately
    does not send in this delivery order: the event's first delivery came after the
    invoice was already paid or voided (or, for the invoice email, already marked
    uncollectible). Status only moves forward, so such an event is stale news."""
    seen: set[int] = set()
    moot: set[tuple[int, str, str]] = set()
    for index in storm.order:
        if index in seen:
            continue
        seen.add(index)
        step = steps[index]
        earlier = {steps[i].type for i in seen if steps[i].story == step.story and i != index}
        kind = EVENT_EMAILS.get(step.type)
        if kind is None:
            continue
        blocking = TERMINAL_TYPES | ({"invoice.marked_uncollectible"} if kind == "invoice_finalized" else set())
        if earlier & blocking:
            if kind == "invoice_finalized":
                moot.add((step.story, kind, "finalized"))
            else:
                moot.add((step.story, kind, f"attempt-{step.fields['attempt_count']}"))
    return moot


@st.composite
def storms(draw: st.DrawFn, max_invoices: int = 3) -> Storm:
    n_customers = draw(st.integers(1, 2))
    stories = draw(
        st.lists(
            st.builds(
                Story,
                customer=st.integers(0, n_customers - 1),
                collection_method=st.sampled_from(["send_invoice", "charge_automatically"]),
                failures=st.integers(0, 2),
                moves_due_date=st.booleans(),
                ending=st.sampled_from(ENDINGS),
            ),
            min_size=2,
            max_size=max_invoices,
        )
    )
    n = len(Storm(stories, n_customers, [], 0).steps(datetime.min, datetime.min))
    order = list(draw(st.permutations(range(n))))
    # Redeliveries: Stripe retries, a backend's at-least-once queue, a replayed export.
    for dup in draw(st.lists(st.integers(0, n - 1), max_size=n)):
        order.insert(draw(st.integers(0, len(order))), dup)
    late_from = draw(st.integers(0, len(order)))
    return Storm(stories, n_customers, order, late_from)
