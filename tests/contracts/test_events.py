"""Events in: Stripe's own fixture objects parse unchanged; bad input names its field."""

from __future__ import annotations

import pytest

from relance.contracts.events import (
    CustomerEvent,
    InvalidEvent,
    InvoiceEvent,
    UnsupportedEventType,
    parse_event,
    parse_events,
)
from tests.support.events import event, parse_one, stripe_fixtures


def test_stripe_fixture_invoice_and_customer_parse_unchanged() -> None:
    fx = stripe_fixtures()
    inv = parse_event(event("invoice.finalized", fx["invoice"]))
    assert isinstance(inv, InvoiceEvent)
    assert inv.invoice.id == fx["invoice"]["id"]
    assert inv.invoice.customer == fx["invoice"]["customer"]
    assert inv.invoice.amount_due == fx["invoice"]["amount_due"]
    assert inv.invoice.lines.data[0].description == fx["invoice"]["lines"]["data"][0]["description"]
    assert inv.invoice.due_date is not None and inv.invoice.due_date.tzinfo is not None
    cust = parse_event(event("customer.updated", fx["customer"]))
    assert isinstance(cust, CustomerEvent)
    assert cust.customer.id == fx["customer"]["id"]


def test_expanded_customer_object_counts_as_its_id() -> None:
    obj = dict(stripe_fixtures()["invoice"], customer={"id": "cus_x", "object": "customer"})
    assert parse_one(event("invoice.paid", obj), InvoiceEvent).invoice.customer == "cus_x"


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda e: e.pop("id"), "id"),
        (lambda e: e.update(created="yesterday"), "created"),
        (lambda e: e["data"].update(object=[]), "data.object"),
        (lambda e: e["data"]["object"].update(currency="euro"), "data.object.currency"),
        (lambda e: e["data"]["object"].update(amount_due=None), "data.object.amount_due"),
        (lambda e: e["data"]["object"].update(collection_method="cash"), "data.object.collection_method"),
        (lambda e: e["data"]["object"]["lines"]["data"][0].update(amount="1,00"), "data.object.lines.data[0].amount"),
        (lambda e: e["data"]["object"].pop("customer"), "data.object.customer"),
    ],
)
def test_invalid_events_name_the_field(mutate, field) -> None:
    ev = event("invoice.finalized", dict(stripe_fixtures()["invoice"]))
    ev["data"]["object"] = {**ev["data"]["object"], "lines": {"data": [dict(ev["data"]["object"]["lines"]["data"][0])]}}
    mutate(ev)
    with pytest.raises(InvalidEvent) as err:
        parse_event(ev)
    assert err.value.field == field


def test_unsupported_type_is_its_own_error_and_lists_name_the_index() -> None:
    good = event("invoice.paid", stripe_fixtures()["invoice"])
    with pytest.raises(UnsupportedEventType) as err:
        parse_events([good, event("plan.created", {"id": "plan_1"})])
    assert err.value.field == "[1].type"
    with pytest.raises(InvalidEvent):
        parse_events("not an event")


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, "subscription"),  # the fixture: parent.subscription_details.subscription (API 2025-03-31 on)
        ({"parent": None, "subscription": "sub_old"}, "sub_old"),  # before 2025-03-31
        ({"parent": None, "subscription": {"id": "sub_exp", "object": "subscription"}}, "sub_exp"),  # expanded
        (
            {
                "parent": {
                    "type": "subscription_details",
                    "subscription_details": {"subscription": {"id": "sub_new", "object": "subscription"}},
                }
            },
            "sub_new",
        ),
        ({"parent": None, "subscription": None}, None),  # one-off
        ({"parent": {"type": "quote_details", "quote_details": {"quote": "qt_1"}, "subscription_details": None}}, None),
    ],
)
def test_invoice_subscription_from_either_api_version(fields, expected) -> None:
    obj = {**stripe_fixtures()["invoice"], **fields}
    assert parse_one(event("invoice.finalized", obj), InvoiceEvent).invoice.subscription_id == expected
