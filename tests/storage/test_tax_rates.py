"""Tax rates Relance learns: the newest description wins whatever order events arrive
in, duplicates change nothing, and rates expanded inside an invoice are kept too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from relance.contracts.events import TaxRateObject, parse_event
from relance.contracts.models import InvoiceSignal
from relance.storage.database import get_engine, session_scope
from relance.storage.invoices import record_invoice_event
from relance.storage.tax_rates import known_tax_rates, record_tax_rate, record_tax_rate_event
from tests.support.documents import tax, tax_rate, two_rate_invoice
from tests.support.events import event

T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request, tmp_path):
    if request.param == "sqlite":
        return get_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    return get_engine(request.getfixturevalue("postgres_url"))


def rate(percentage: float, name: str = "VAT") -> TaxRateObject:
    return TaxRateObject.model_validate(tax_rate("txr_1", percentage, name))


def test_the_newest_event_wins_in_any_order_and_duplicates_are_harmless(engine) -> None:
    with session_scope(engine) as s:
        # tax_rate.updated (newer) arrives before tax_rate.created (older).
        assert record_tax_rate_event(s, "evt_2", "tax_rate.updated", T0 + timedelta(hours=1), rate(20, "TVA"))
        assert not record_tax_rate_event(s, "evt_1", "tax_rate.created", T0, rate(19.6, "TVA"))
        assert not record_tax_rate_event(s, "evt_2", "tax_rate.updated", T0 + timedelta(hours=1), rate(20, "TVA"))
    with session_scope(engine) as s:
        known = known_tax_rates(s, ["txr_1", "txr_unknown"])
    assert list(known) == ["txr_1"]
    assert (known["txr_1"].percentage, known["txr_1"].display_name) == (Decimal(20), "TVA")
    with session_scope(engine) as s:
        assert known_tax_rates(s, []) == {}


def test_an_id_alone_never_replaces_a_description(engine) -> None:
    with session_scope(engine) as s:
        assert record_tax_rate(s, rate(5.5), T0)
        assert not record_tax_rate(s, TaxRateObject(id="txr_1"), T0 + timedelta(days=1))
        assert known_tax_rates(s, ["txr_1"])["txr_1"].percentage == Decimal("5.5")


def test_rates_expanded_inside_an_invoice_are_kept(engine) -> None:
    obj = two_rate_invoice("in_rates")
    obj["total_taxes"][1] = tax(1100, 20000, tax_rate("txr_fr55", 5.5, "TVA réduite"))
    obj["lines"]["data"][0]["tax_rates"] = [tax_rate("txr_old_api", 10, "IVA")]
    parsed = parse_event(event("invoice.finalized", obj, created=T0))
    with session_scope(engine) as s:
        record_invoice_event(
            s, InvoiceSignal(event_id=parsed.id, type=parsed.type, created=parsed.created, invoice=parsed.invoice)
        )
    with session_scope(engine) as s:
        known = known_tax_rates(s, ["txr_fr20", "txr_fr55", "txr_old_api"])
    # txr_fr20 is named by id only: nothing to learn from it.
    assert {k: (v.display_name, v.percentage) for k, v in known.items()} == {
        "txr_fr55": ("TVA réduite", Decimal("5.5")),
        "txr_old_api": ("IVA", Decimal(10)),
    }
