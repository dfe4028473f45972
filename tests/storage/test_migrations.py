"""Schema migrations (Alembic) on SQLite and PostgreSQL: the revisions build exactly the
models' schema, old databases keep every row through an upgrade (and a downgrade),
databases made by create_all before Alembic are adopted, and replicas starting together
migrate once."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, inspect, text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel, select

from relance.contracts.account import AccountSettings
from relance.contracts.events import parse_event
from relance.contracts.models import InvoiceSignal
from relance.storage import email_log, migrate, suppressions, webhooks_store
from relance.storage.customers import get_customer
from relance.storage.database import dispose_engine, get_engine, session_scope
from relance.storage.documents import get_document
from relance.storage.email_log_query import EmailFilter, find_emails
from relance.storage.invoices import load_invoice_document, load_invoice_state, record_invoice_event, revision_of
from relance.storage.settings_store import load_settings, save_settings
from relance.storage.tables import InvoiceRecord, ProcessedEvent, as_utc
from relance.storage.templates_store import current_versions, get_version
from tests.support.events import event, invoice

NOW = datetime(2026, 3, 20, 12, tzinfo=UTC)
CUSTOMER = "cus_migrated"
RELANCE = str(Path(sys.executable).parent / "relance")
# Tables an older Relance (before webhooks and suppressions) had made with create_all.
ADDED_WITH_WEBHOOKS = ("webhook_endpoints", "webhook_deliveries", "email_delivery", "provider_events", "suppressions")


# ---- databases ------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own (migrations need a blank slate, not the session's)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'app.db'}"
        yield url
        dispose_engine(url)
        return
    yield from _fresh_postgres(request.getfixturevalue("postgres_url"))


@pytest.fixture
def pg_db_url(postgres_url: str) -> Iterator[str]:
    yield from _fresh_postgres(postgres_url)


def _fresh_postgres(server_url: str) -> Iterator[str]:
    server = make_url(server_url)
    admin = server.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    name = f"relance_mig_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = server.set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        dispose_engine(url)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def schema_diffs(url: str) -> list:
    """What autogenerate would write to make the database match the models."""
    engine = migrate.migration_engine(url)
    try:
        with engine.connect() as conn:
            opts = migrate.compare_options(conn.dialect.name)
            return compare_metadata(MigrationContext.configure(conn, opts=opts), SQLModel.metadata)
    finally:
        engine.dispose()


def indexes(url: str, table: str) -> dict[str, list[str]]:
    engine = migrate.migration_engine(url)
    try:
        with engine.connect() as conn:
            return {ix["name"]: ix["column_names"] for ix in inspect(conn).get_indexes(table)}
    finally:
        engine.dispose()


def make_legacy(url: str, *, missing: tuple[str, ...] = ()) -> None:
    """A database as `create_all` made it before Alembic: the 0001 tables (0001 is that
    schema), no alembic_version; `missing` are tables an older release did not have."""
    migrate.upgrade(url, "0001")
    engine = migrate.migration_engine(url)
    try:
        with engine.begin() as conn:
            for name in (migrate.VERSION_TABLE, *missing):
                conn.execute(text(f"DROP TABLE {name}"))
    finally:
        engine.dispose()


# ---- rows written into the old schema ---------------------------------------------------


def old_invoice():
    parsed = parse_event(
        event(
            "invoice.finalized",
            invoice("in_migrated", CUSTOMER, status="open", due=NOW + timedelta(days=10), number="INV-0042"),
            created=NOW - timedelta(days=2),
            event_id="evt_migrated_finalized",
        )
    )
    return parsed.id, parsed.invoice


def seed_rows() -> dict[str, list[dict[str, Any]]]:
    """One or more rows per table, as plain values (inserted through reflected tables, so
    this keeps working when a later revision changes the models)."""
    event_id, inv = old_invoice()
    rev = revision_of(inv)
    settings = AccountSettings(attach_pdf=False)
    t = NOW - timedelta(days=5)
    log = [
        # id, created: two within the 30-day window, one older than it
        ("e" * 31 + "1", NOW - timedelta(days=1)),
        ("e" * 31 + "2", NOW - timedelta(days=3)),
        ("e" * 31 + "3", NOW - timedelta(days=40)),
    ]
    return {
        "invoices": [
            dict(
                id=inv.id,
                customer_id=CUSTOMER,
                status="open",
                collection_method=inv.collection_method,
                currency=inv.currency,
                number=inv.number,
                amount_due=inv.amount_due,
                amount_paid=0,
                amount_remaining=inv.amount_remaining,
                due_date=inv.due_date,
                attempt_count=0,
                next_payment_attempt=None,
                hosted_invoice_url=inv.hosted_invoice_url,
                customer_email=inv.customer_email,
                customer_name=inv.customer_name,
                revision=rev,
                last_event_at=NOW - timedelta(days=2),
                updated_at=t,
            )
        ],
        "invoice_revisions": [
            dict(invoice_id=inv.id, revision=rev, document=inv.model_dump(mode="json"), created_at=t)
        ],
        "processed_events": [dict(id=event_id, type="invoice.finalized", object_id=inv.id, received_at=t)],
        "customers": [
            dict(
                id=CUSTOMER,
                email="ada@customer.test",
                name="Ada Lovelace",
                preferred_locales=["fr-FR"],
                invoice_emails=["ap@customer.test"],
                cc_emails=[],
                timezone="Europe/Paris",
                address_lines=["1 rue de la Paix", "Paris"],
                last_event_at=t,
                updated_at=t,
            )
        ],
        "account_settings": [dict(id=1, version=3, data=settings.model_dump(mode="json"), updated_at=t)],
        "email_log": [
            dict(
                id=eid,
                idempotency_key=f"in_migrated:invoice_reminder:{i}",
                kind="invoice_reminder",
                customer_id=CUSTOMER,
                invoice_id=inv.id,
                status="sent",
                scheduled_at=created,
                created_at=created,
                sent_at=created,
                to=["ap@customer.test"],
                cc=[],
                from_email="billing@relance.localhost",
                subject=f"Reminder {i}",
                locale="fr-FR",
                message_ref=f"msg:{eid}",
                attachments=[],
                provider="outbox",
                provider_message_id=f"<{eid}@relance>",
                error=None,
                note=None,
                attempts=1,
            )
            for i, (eid, created) in enumerate(log)
        ],
        "documents": [
            dict(
                key="pdf:in_migrated:" + rev[:12],
                media_type="application/pdf",
                content=b"%PDF-1.7 old bytes\x00\xff",
                size=20,
                created_at=t,
            )
        ],
        "custom_templates": [
            dict(
                kind="invoice_reminder",
                version=1,
                subject="Old {{ invoice.number }}",
                html="<p>old</p>",
                text=None,
                is_default=False,
                created_at=t,
            )
        ],
        "webhook_endpoints": [
            dict(
                id="we_migrated",
                url="https://hooks.example.test/relance",
                event_types=["email.sent"],
                description="ops",
                secret="whsec_old",
                previous_secret=None,
                previous_secret_expires_at=None,
                created_at=t,
                updated_at=t,
            )
        ],
        "webhook_deliveries": [
            dict(
                endpoint_id="we_migrated",
                event_id="evt_out_1",
                event_type="email.sent",
                status="delivered",
                attempts=1,
                last_status_code=200,
                last_error=None,
                created_at=t,
                updated_at=t,
                delivered_at=t,
            )
        ],
        "email_delivery": [
            dict(email_id=log[0][0], delivery_status="delivered", delivery_status_at=t, reason=None, updated_at=t)
        ],
        "provider_events": [
            dict(
                provider="sendgrid",
                event_id="sg_evt_1",
                event="delivered",
                email_id=log[0][0],
                recipient="ap@customer.test",
                occurred_at=t,
                received_at=t,
            )
        ],
        "suppressions": [
            dict(
                address="bounced@customer.test",
                reason="bounce",
                detail="550 no such user",
                email_id=log[1][0],
                created_at=t,
            )
        ],
    }


def _reflect(conn) -> MetaData:
    meta = MetaData()
    meta.reflect(conn)
    return meta


def insert_rows(url: str, rows: dict[str, list[dict[str, Any]]]) -> None:
    engine = migrate.migration_engine(url)
    try:
        with engine.begin() as conn:
            meta = _reflect(conn)
            for table, values in rows.items():
                conn.execute(meta.tables[table].insert(), values)
    finally:
        engine.dispose()


def _comparable(value: Any) -> Any:
    if isinstance(value, datetime):  # SQLite keeps no zone; the values are UTC
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, memoryview):
        return bytes(value)
    return value


def assert_rows_kept(url: str, rows: dict[str, list[dict[str, Any]]]) -> None:
    """Every row, every column, as written."""
    engine = migrate.migration_engine(url)
    try:
        with engine.connect() as conn:
            meta = _reflect(conn)
            for table, expected in rows.items():
                found = [
                    {k: _comparable(v) for k, v in r._mapping.items()}
                    for r in conn.execute(meta.tables[table].select())
                ]
                assert len(found) == len(expected), table
                for want in expected:
                    match = [f for f in found if all(f[k] == _comparable(v) for k, v in want.items())]
                    assert match, f"{table}: row {want} lost or changed; found {found}"
    finally:
        engine.dispose()


def assert_storage_works(url: str) -> None:
    """The app's own storage functions read the migrated rows and write new ones."""
    engine = get_engine(url)
    with session_scope(engine) as s:
        state = load_invoice_state(s, "in_migrated")
        assert state is not None and state.status == "open" and state.customer_id == CUSTOMER
        assert load_invoice_document(s, "in_migrated", state.revision).number == "INV-0042"
        assert get_customer(s, CUSTOMER).preferred_locales == ["fr-FR"]
        settings, version = load_settings(s)
        assert version == 3 and settings.attach_pdf is False
        recent = email_log.customer_emails(s, CUSTOMER, now=NOW)
        assert [e.subject for e in recent] == ["Reminder 0", "Reminder 1"]  # newest first, 30 days
        assert get_document(s, "pdf:in_migrated:" + state.revision[:12]) == b"%PDF-1.7 old bytes\x00\xff"
        assert current_versions(s) == {"invoice_reminder": 1}
        assert get_version(s, "invoice_reminder", None).html == "<p>old</p>"
        assert suppressions.is_suppressed(s, "Bounced@Customer.test")
        [endpoint] = webhooks_store.list_endpoints(s)
        assert webhooks_store.signing_secrets(endpoint) == ["whsec_old"]
        assert [d.status for d in webhooks_store.deliveries(s, endpoint_id="we_migrated")] == ["delivered"]
        assert webhooks_store.delivery_status(s, "e" * 31 + "1").delivery_status == "delivered"
        assert webhooks_store.seen_provider_events(s, "sendgrid", ["sg_evt_1", "sg_evt_2"]) == {"sg_evt_1"}
    event_id, _ = old_invoice()
    paid = parse_event(
        event(
            "invoice.paid",
            invoice("in_migrated", CUSTOMER, status="paid", number="INV-0042"),
            created=NOW,
            event_id="evt_migrated_paid",
        )
    )
    with session_scope(engine) as s:
        assert s.get(ProcessedEvent, event_id) is not None
        assert (
            record_invoice_event(
                s, InvoiceSignal(event_id=paid.id, type=paid.type, created=paid.created, invoice=paid.invoice)
            ).status
            == "paid"
        )
        email_log.new_entry(
            s,
            key="in_migrated:receipt:0",
            kind="receipt",
            customer_id=CUSTOMER,
            invoice_id="in_migrated",
            scheduled_at=NOW,
            status=email_log.PENDING,
        )
        save_settings(s, AccountSettings(attach_pdf=True))
    with session_scope(engine) as s:
        assert len(email_log.customer_emails(s, CUSTOMER, now=NOW + timedelta(seconds=1))) == 3
        assert load_settings(s)[1] == 4


def assert_0002_objects(url: str) -> None:
    log_ix, inv_ix = indexes(url, "email_log"), indexes(url, "invoices")
    assert log_ix["ix_email_log_customer_created"] == ["customer_id", "created_at"]
    assert inv_ix["ix_invoices_customer_last_event"] == ["customer_id", "last_event_at"]
    assert "ix_email_log_customer_id" not in log_ix and "ix_invoices_customer_id" not in inv_ix


def assert_0004_objects(url: str, seeded: bool = False) -> None:
    """The email log's filter indexes, the trigram index on PostgreSQL, and (for rows from
    before 0004) a `search` filled from their subject and recipients."""
    log_ix = indexes(url, "email_log")
    assert log_ix["ix_email_log_created_id"] == ["created_at", "id"]
    assert log_ix["ix_email_log_kind_created"] == ["kind", "created_at", "id"]
    assert log_ix["ix_email_log_status_created"] == ["status", "created_at", "id"]
    assert log_ix["ix_email_log_delivery_created"] == ["delivery_status", "created_at", "id"]
    assert log_ix["ix_email_log_resend_of"] == ["resend_of"]
    assert "ix_email_log_created_at" not in log_ix
    assert ("ix_email_log_search_trgm" in log_ix) == url.startswith("postgresql")
    if seeded:
        with session_scope(get_engine(url)) as s:
            assert len(find_emails(s, EmailFilter(q="AP@customer"))) == 3
            assert len(find_emails(s, EmailFilter(q="reminder 1"))) == 1
            assert not any(e.is_test or e.resend_of for e in find_emails(s, EmailFilter()))
            # The one email_delivery row seeded, copied onto its log row.
            assert len(find_emails(s, EmailFilter(statuses=("delivered",)))) == 1


# ---- tests ------------------------------------------------------------------------------


def test_revisions_build_exactly_the_models_schema(db_url: str) -> None:
    """Fails when a table changes without a migration (or a migration without the model)."""
    before, after = migrate.upgrade(db_url)  # every revision, from nothing
    assert before.kind == "empty" and after.at_head
    assert schema_diffs(db_url) == []


def test_a_new_database_is_created_at_head(db_url: str) -> None:
    """Startup on an empty database: the models' schema, stamped at head, usable."""
    engine = get_engine(db_url)
    state = migrate.current(db_url)
    assert state.at_head and state.current == migrate.head_revisions()
    assert schema_diffs(db_url) == []
    assert_0002_objects(db_url)
    assert_0004_objects(db_url)
    with session_scope(engine) as s:
        assert load_settings(s) == (AccountSettings(), 0)


def test_old_schema_with_data_is_upgraded_without_loss(db_url: str) -> None:
    migrate.upgrade(db_url, "0001")
    rows = seed_rows()
    insert_rows(db_url, rows)
    assert "ix_email_log_customer_id" in indexes(db_url, "email_log")

    get_engine(db_url)  # what every process does at startup

    assert migrate.current(db_url).at_head
    assert_rows_kept(db_url, rows)
    assert_0002_objects(db_url)
    assert_0004_objects(db_url, seeded=True)
    assert schema_diffs(db_url) == []
    assert_storage_works(db_url)


@pytest.mark.parametrize("missing", [(), ADDED_WITH_WEBHOOKS], ids=["complete", "older-release"])
def test_pre_alembic_database_is_adopted_without_loss(db_url: str, missing: tuple[str, ...]) -> None:
    """create_all's database (no alembic_version), even from a release that lacked some
    tables: kept as it is, stamped at 0001 with what was missing added, then upgraded."""
    make_legacy(db_url, missing=missing)
    rows = {t: r for t, r in seed_rows().items() if t not in missing}
    insert_rows(db_url, rows)
    assert migrate.current(db_url).kind == "legacy"

    get_engine(db_url)

    assert migrate.current(db_url).at_head
    assert_rows_kept(db_url, rows)
    assert schema_diffs(db_url) == []
    if missing:  # the tables the older release lacked exist now, and work
        insert_rows(db_url, {t: r for t, r in seed_rows().items() if t in missing})
    assert_storage_works(db_url)


def test_downgrade_of_0002_restores_0001_and_keeps_rows(db_url: str) -> None:
    migrate.upgrade(db_url, "0001")
    rows = seed_rows()
    insert_rows(db_url, rows)
    migrate.upgrade(db_url)

    before, after = migrate.downgrade(db_url, "0001")

    assert before.at_head and after.current == ("0001",)
    log_ix, inv_ix = indexes(db_url, "email_log"), indexes(db_url, "invoices")
    assert log_ix["ix_email_log_customer_id"] == ["customer_id"] and inv_ix["ix_invoices_customer_id"] == [
        "customer_id"
    ]
    assert "ix_email_log_customer_created" not in log_ix and "ix_invoices_customer_last_event" not in inv_ix
    assert_rows_kept(db_url, rows)
    migrate.upgrade(db_url)  # and forward again
    assert schema_diffs(db_url) == []
    assert_rows_kept(db_url, rows)


@pytest.mark.postgres
@pytest.mark.parametrize("start", ["empty", "0001"])
def test_replicas_starting_together_migrate_once(pg_db_url: str, start: str) -> None:
    """Two processes' startups contend for the advisory lock; one migrates, the other then
    finds the schema at head (without the lock both would see the old schema)."""
    if start == "0001":
        migrate.upgrade(pg_db_url, "0001")
    key = migrate.ADVISORY_LOCK_KEY
    results: list[migrate.SchemaState] = []
    errors: list[BaseException] = []

    def startup() -> None:
        try:
            results.append(migrate.prepare(pg_db_url))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    admin = make_url(pg_db_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as holder:
        # Hold the lock so both startups are provably waiting on it at the same time.
        holder.execute("SELECT pg_advisory_lock(%s)", (key,))
        threads = [threading.Thread(target=startup) for _ in range(2)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while True:
            waiting = holder.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                " AND classid = %s AND objid = %s",
                (key >> 32, key & 0xFFFFFFFF),
            ).fetchone()[0]
            if waiting == 2:
                break
            assert time.monotonic() < deadline, f"only {waiting} startups waiting on the lock"
            time.sleep(0.05)
        holder.execute("SELECT pg_advisory_unlock(%s)", (key,))
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    first, second = sorted(results, key=lambda s: s.at_head)
    assert not first.at_head and first.kind == ("empty" if start == "empty" else "versioned")
    assert second.at_head  # it waited for the first one's migration
    engine = migrate.migration_engine(pg_db_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == list(
                migrate.head_revisions()
            )
    finally:
        engine.dispose()
    assert schema_diffs(pg_db_url) == []


def test_auto_migrate_off_refuses_an_old_schema_and_changes_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    migrate.upgrade(url, "0001")
    with pytest.raises(migrate.SchemaError, match="relance db upgrade"):
        get_engine(url, auto_migrate=False)
    assert migrate.current(url).current == ("0001",)
    migrate.upgrade(url)
    get_engine(url, auto_migrate=False)
    dispose_engine(url)


def test_a_revision_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    """A rolled-back deploy: the database was migrated by a newer Relance."""
    url = f"sqlite:///{tmp_path / 'app.db'}"
    get_engine(url)
    dispose_engine(url)
    engine = migrate.migration_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    with pytest.raises(migrate.SchemaError, match="0099"):
        get_engine(url)


def test_cli_db_commands(tmp_path: Path) -> None:
    """`relance db history|upgrade|current` as an operator runs them, and a process with
    RELANCE_DB_AUTO_MIGRATE=false refusing a database that is behind."""
    url = f"sqlite:///{tmp_path / 'app.db'}"
    env = {**os.environ, "RELANCE_DATABASE_URL": url, "RELANCE_DB_AUTO_MIGRATE": "false"}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([RELANCE, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)

    history = run("db", "history")
    assert history.returncode == 0
    assert history.stdout.splitlines()[0].startswith("<base> -> 0001,")
    assert "0001 -> 0002," in history.stdout and "0002 -> 0003," in history.stdout
    assert "0003 -> 0004," in history.stdout and "0004 -> 0005," in history.stdout
    assert (
        "0005 -> 0006," in history.stdout
        and "0007 -> 0008," in history.stdout
        and "0008 -> 0009 (head)" in history.stdout
    )
    assert run("db", "upgrade", "--revision", "0001").returncode == 0
    behind = run("db", "current")
    assert behind.returncode == 1 and "0001; head is 0009" in behind.stdout
    refused = run("log", "--customer", CUSTOMER)
    assert refused.returncode == 1 and "relance db upgrade" in refused.stderr
    upgraded = run("db", "upgrade")
    assert upgraded.returncode == 0 and "-> 0009 (head)" in upgraded.stdout
    assert run("db", "current").returncode == 0
    assert run("log", "--customer", CUSTOMER).returncode == 0


@pytest.mark.postgres
def test_adopting_a_database_that_differs_from_the_models_says_so(pg_db_url: str, caplog) -> None:
    """Adoption changes no existing column; a difference (here naive timestamps, as
    SQLModel < 0.0.45 made them) is logged, with the rows kept."""
    make_legacy(pg_db_url)
    engine = migrate.migration_engine(pg_db_url)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE suppressions ALTER COLUMN created_at TYPE timestamp without time zone"))
    engine.dispose()
    rows = {"suppressions": seed_rows()["suppressions"]}
    insert_rows(pg_db_url, rows)
    with caplog.at_level("WARNING", logger="relance.storage.migrate"):
        get_engine(pg_db_url)
    assert migrate.current(pg_db_url).at_head
    [warning] = [r.getMessage() for r in caplog.records if "differs from the models" in r.getMessage()]
    assert "suppressions" in warning and "created_at" in warning
    with session_scope(get_engine(pg_db_url)) as s:  # (times left out: naive columns follow the server's zone)
        assert [r.address for r in suppressions.list_suppressions(s)] == ["bounced@customer.test"]


def test_0005_backfills_payment_times_from_what_0003_stored(db_url: str) -> None:
    """Invoices stored before 0005: finalized at their first event received, paid at their
    newest event, failed attempts counted from processed_events."""
    migrate.upgrade(db_url, "0003")
    rows = seed_rows()
    paid = dict(rows["invoices"][0], id="in_paid_before_0005", status="paid", last_event_at=NOW - timedelta(days=1))
    rows["invoices"].append(paid)
    rows["processed_events"] += [
        dict(id="evt_b1", type="invoice.finalized", object_id=paid["id"], received_at=NOW - timedelta(days=9)),
        dict(id="evt_b2", type="invoice.payment_failed", object_id=paid["id"], received_at=NOW - timedelta(days=8)),
        dict(id="evt_b3", type="invoice.payment_failed", object_id=paid["id"], received_at=NOW - timedelta(days=4)),
        dict(id="evt_b4", type="invoice.paid", object_id=paid["id"], received_at=NOW - timedelta(days=1)),
    ]
    insert_rows(db_url, rows)
    migrate.upgrade(db_url)
    with session_scope(get_engine(db_url)) as s:
        got = {
            r.id: (as_utc(r.finalized_at), as_utc(r.paid_at), r.payment_failures, as_utc(r.last_payment_failed_at))
            for r in s.exec(select(InvoiceRecord))
        }
    assert got == {
        rows["invoices"][0]["id"]: (_comparable(NOW - timedelta(days=5)), None, 0, None),
        paid["id"]: (
            _comparable(NOW - timedelta(days=9)),
            _comparable(NOW - timedelta(days=1)),
            2,
            _comparable(NOW - timedelta(days=4)),
        ),
    }
