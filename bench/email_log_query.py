"""How long GET /v1/emails's filters take on PostgreSQL over a large email log.

Creates a scratch database on the local server, builds the schema the way Relance does
(relance.storage.database.get_engine: the models at migration head, indexes included),
fills email_log with generated rows in SQL (and email_delivery for the sent ones the
provider reported on), ANALYZEs, then times each filter through the very function the
route calls (email_log_query.find_emails, one page of 51 rows: the route's limit + 1),
median of several runs after a warm-up. The CSV export of one customer is timed too.

    .venv/bin/python bench/email_log_query.py [--rows 1000000] [--runs 7] [--keep]

Writes bench/results/email_log_query.json. Not a test: times depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg  # noqa: E402

from relance.storage.database import dispose_engine, get_engine, session_scope  # noqa: E402
from relance.storage.email_log_query import Cursor, EmailFilter, find_emails, iter_emails  # noqa: E402

ADMIN = os.environ.get("BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
RESULTS = Path(__file__).resolve().parent / "results" / "email_log_query.json"
END = datetime(2026, 12, 1, tzinfo=UTC)
DAYS = 30  # the default retention: the log holds about this much
CUSTOMERS = 20_000

# Kinds and outcomes in roughly the proportions a dunning account sees.
FILL = f"""
INSERT INTO email_log (id, idempotency_key, kind, customer_id, invoice_id, status, scheduled_at, created_at,
                       sent_at, "to", cc, from_email, subject, locale, attachments, provider, provider_message_id,
                       error, attempts, is_test, search)
SELECT md5(i::text), 'k:' || i,
       (ARRAY['invoice_finalized','invoice_finalized','invoice_reminder','invoice_reminder','receipt','receipt',
              'payment_failed','card_expiring','credit_note_created','refund_issued'])[1 + i % 10],
       'cus_' || (i % {CUSTOMERS}), 'in_' || (i / 3),
       CASE WHEN i % 100 < 88 THEN 'sent' WHEN i % 100 < 94 THEN 'skipped' WHEN i % 100 < 97 THEN 'failed'
            ELSE 'pending' END,
       t, t, CASE WHEN i % 100 < 88 THEN t END,
       json_build_array('billing' || (i % {CUSTOMERS}) || '@customer' || (i % 97) || '.example'), '[]'::json,
       'billing@relance.example', 'Invoice INV-' || lpad(i::text, 8, '0') || ' from Northwind', 'en', '[]'::json,
       'sendgrid', 'sg-' || i,
       CASE WHEN i % 100 BETWEEN 88 AND 92 THEN 'turned off in settings'
            WHEN i % 100 = 93 THEN 'suppressed: x@customer.example (bounce)'
            WHEN i % 100 BETWEEN 94 AND 96 THEN '550 mailbox unavailable'
            WHEN i % 100 = 99 AND i % 7 = 0 THEN 'held since 2026-11-30 10:00 UTC: sendgrid refused the credentials'
       END,
       0, false,
       lower('Invoice INV-' || lpad(i::text, 8, '0') || ' from Northwind billing' || (i % {CUSTOMERS})
             || '@customer' || (i % 97) || '.example')
FROM (SELECT i, timestamptz '{END.isoformat()}' - (i * interval '1 second' * {DAYS * 86400} / {{rows}}) AS t
      FROM generate_series(1, {{rows}}) AS i) g
"""
DELIVERIES = """
INSERT INTO email_delivery (email_id, delivery_status, delivery_status_at, updated_at)
SELECT id, CASE WHEN abs(hashtext(id)) % 100 < 2 THEN 'bounce' ELSE 'delivered' END, created_at, created_at
FROM email_log WHERE status = 'sent' AND abs(hashtext(id || 'd')) % 100 < 70
"""

COPY_DELIVERIES = (
    "UPDATE email_log l SET delivery_status = d.delivery_status FROM email_delivery d WHERE d.email_id = l.id"
)


def filters(rows: int) -> dict[str, EmailFilter]:
    day = (END - timedelta(days=3)).date()
    since = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    return {
        "no filter": EmailFilter(),
        "kind=invoice_reminder": EmailFilter(kinds=("invoice_reminder",)),
        "status=failed": EmailFilter(statuses=("failed",)),
        "status=held (rare)": EmailFilter(statuses=("held",)),
        "status=suppressed": EmailFilter(statuses=("suppressed",)),
        "status=delivered": EmailFilter(statuses=("delivered",)),
        "status=bounced": EmailFilter(statuses=("bounced",)),
        "customer": EmailFilter(customer="cus_4242"),
        "invoice": EmailFilter(invoice=f"in_{rows // 6}"),
        "from/to: one day": EmailFilter(since=since, before=since + timedelta(days=1)),
        "kind + status + one day": EmailFilter(
            kinds=("receipt",), statuses=("failed",), since=since, before=since + timedelta(days=1)
        ),
        "q: one recipient": EmailFilter(q="billing4242@customer"),
        "q: one invoice number": EmailFilter(q=f"inv-{rows // 2:08d}"),
        "q: common word": EmailFilter(q="northwind"),
        "q: no match": EmailFilter(q="nobody-at-all"),
        "customer + status=bounced": EmailFilter(customer="cus_4242", statuses=("bounced",)),
    }


def one_value(cursor: psycopg.Cursor) -> Any:
    """The single value a one-row query answers."""
    row = cursor.fetchone()
    assert row is not None
    return row[0]


def timed(fn, runs: int) -> float:
    fn()  # warm: plan cache, pages in shared buffers
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(samples), 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="Leave the scratch database behind.")
    args = parser.parse_args()

    name = f"relance_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        server_version = one_value(conn.execute("SHOW server_version"))
    if args.keep:
        print(f"scratch database: {name}", file=sys.stderr)
    url = f"postgresql+psycopg://{ADMIN.split('://', 1)[1].rsplit('/', 1)[0]}/{name}"
    try:
        engine = get_engine(url)
        started = time.perf_counter()
        with psycopg.connect(ADMIN.rsplit("/", 1)[0] + "/" + name, autocommit=True) as pg:
            pg.execute(FILL.replace("{rows}", str(args.rows)).encode())
            pg.execute(DELIVERIES.encode())
            pg.execute(COPY_DELIVERIES.encode())
            pg.execute(b"VACUUM ANALYZE")
            size = one_value(pg.execute(b"SELECT pg_size_pretty(pg_total_relation_size('email_log'))"))
        fill_s = round(time.perf_counter() - started, 1)

        results = {}
        for label, f in filters(args.rows).items():

            def page(f: EmailFilter = f) -> int:
                with session_scope(engine) as session:
                    return len(find_emails(session, f, limit=51))

            results[label] = {"ms": timed(page, args.runs), "rows": page()}

        with session_scope(engine) as session:
            middle = find_emails(session, EmailFilter(), limit=args.rows // 2)[-1]
        deep = Cursor.after(middle)

        def deep_page() -> int:
            with session_scope(engine) as session:
                return len(find_emails(session, EmailFilter(), after=deep, limit=51))

        results["no filter, page from the middle (cursor)"] = {"ms": timed(deep_page, args.runs), "rows": deep_page()}

        def export() -> int:
            with session_scope(engine) as session:
                return sum(1 for _ in iter_emails(session, EmailFilter(customer="cus_4242")))

        csv_ms = timed(export, max(3, args.runs // 2))
        results["CSV rows of one customer (all pages)"] = {"ms": csv_ms, "rows": export()}
    finally:
        dispose_engine(url)
        if not args.keep:
            with psycopg.connect(ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    out = {
        "date": date.today().isoformat(),
        "rows": args.rows,
        "email_log_size": size,
        "fill_seconds": fill_s,
        "postgresql": server_version,
        "python": platform.python_version(),
        "runs": args.runs,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "median_ms": results,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
