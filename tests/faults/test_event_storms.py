"""Event storms: duplicated, reordered and late invoice events end in exactly the emails
of the canonical order, never one twice.

Canonical: the same distinct events delivered once each, in `created` order. It is not
written down by hand: each example runs it for real, beside the storm, on the same
time-skipping server, database and clock, under another id namespace. The two runs are
compared as multisets of (invoice, kind, occurrence) of the emails sent.

The one deliberate difference is computed by `moot_keys`: an invoice email or a payment
notice whose event first arrives after the invoice was paid or voided (or, for the
invoice email, marked uncollectible) is stale news and is not sent. Every other email
must match: receipts, notices, invoice emails, and the reminders of the merged due date.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, Phase, given, note, settings

from tests.support.harness import Harness
from tests.support.storms import Storm, build_event, customer_events, invoice_id, moot_keys, storms

DAY = timedelta(days=1)
_examples = iter(range(10_000))
STATS: Counter[str] = Counter()


def sent_emails(h: Harness, ns: str, n_invoices: int) -> Counter[tuple[int, str, str]]:
    by_id = {invoice_id(ns, i): i for i in range(n_invoices)}
    found: Counter[tuple[int, str, str]] = Counter()
    for entry in h.log():
        if entry.invoice_id in by_id:
            assert entry.status == "sent", (entry.idempotency_key, entry.status, entry.error)
            _, kind, occurrence = entry.idempotency_key.split(":", 2)
            # Reminder occurrences carry the due date, which both runs share.
            found[(by_id[entry.invoice_id], kind, occurrence)] += 1
    return found


@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(storm=storms())
async def test_storms_end_in_the_canonical_emails(harness: Harness, storm: Storm) -> None:
    h = harness
    example = next(_examples)
    if example == 0:
        # Reminders one day before and two after the due date; no PDFs (they are not what
        # is tested here and cost most of the time).
        h.save_settings(reminders=[-1, 2], attach_pdf=False, send_hour=9)
    # Ids unique to this example: the server and the database outlive it.
    canon_ns, storm_ns = f"c{example}", f"s{example}"
    note(f"stories={storm.stories} order={storm.order} late_from={storm.late_from}")
    base = await h.now()
    due, moved_due = base + 5 * DAY, base + 8 * DAY
    steps = storm.steps(due, moved_due)
    try:
        await h.send(
            *customer_events(canon_ns, storm.n_customers, base), *customer_events(storm_ns, storm.n_customers, base)
        )
        # Canonical: each event once, in created order.
        for i, step in enumerate(steps):
            await h.send(build_event(canon_ns, storm, step, i, base))
        # The storm: the same events, duplicated and shuffled; the tail arrives a day late
        # (before any reminder is due, so lateness changes no email by itself).
        deliveries = [build_event(storm_ns, storm, steps[i], i, base) for i in storm.order]
        for ev in deliveries[: storm.late_from]:
            await h.client.send(ev)
            h.workflow_ids.add(f"invoice-{ev['data']['object']['id']}")
        await h.settle()
        await h.advance(DAY, step=DAY)
        for ev in deliveries[storm.late_from :]:
            await h.client.send(ev)
            h.workflow_ids.add(f"invoice-{ev['data']['object']['id']}")
        await h.settle()
        # Past every reminder slot of both due dates.
        await h.advance(10 * DAY, step=DAY)

        n = len(storm.stories)
        canonical = sent_emails(h, canon_ns, n)
        stormy = sent_emails(h, storm_ns, n)
        assert all(count == 1 for count in stormy.values()), stormy
        expected = canonical - Counter(moot_keys(storm, steps))
        assert stormy == expected, {"missing": expected - stormy, "extra": stormy - expected}
        # Each logged email is one message on disk: nothing went out beside the log.
        sent_rows = [e for e in h.log() if e.status == "sent"]
        assert len(h.outbox_messages()) == len(sent_rows)
        STATS.update(
            emails=sum(stormy.values()),
            moot=len(moot_keys(storm, steps)),
            examples=1,
            late=len(deliveries) - storm.late_from,
            duplicates=len(storm.order) - len(steps),
        )
    finally:
        await h.terminate_all()
        h.workflow_ids.clear()


def test_the_storms_were_stormy() -> None:
    """Runs after the property (file order): the examples really had duplicates, late
    events, suppressed stale news and plenty of emails to compare."""
    if STATS["examples"] == 0:
        pytest.skip("the storm property did not run in this session")
    assert STATS["duplicates"] > 0 and STATS["late"] > 0 and STATS["moot"] > 0, STATS
    assert STATS["emails"] >= 3 * STATS["examples"], STATS
