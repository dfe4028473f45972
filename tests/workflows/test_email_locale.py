"""Which language a customer's emails go out in: BCP 47 tags and underscore forms both
match a shipped catalog, and a customer whose preferences are all unshipped (`ja`) gets
the default, logged once per customer at INFO rather than once per email. The log test
runs on the time-skipping server with a real worker and the outbox."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlmodel import Session

from relance.contracts.kinds import EmailKind
from relance.rendering.i18n import choose_locale, email_locale, match_locale, shipped_tags
from relance.services.preview import write_preview
from relance.storage.database import get_engine
from tests.support.events import customer, event, invoice
from tests.support.harness import Harness

DAY = timedelta(days=1)


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("pt-BR", "pt_BR"),
        ("pt_BR", "pt_BR"),
        ("pt-br", "pt_BR"),
        ("pt", "pt"),
        ("fr-CA", "fr_CA"),
        ("fr_CA", "fr_CA"),
        ("fr-BE", "fr"),
        ("de-DE", "de"),
        ("en-GB", "en_GB"),
        ("en-US", "en"),
        ("ja", "ja"),
        ("zh-TW", "zh_Hant_TW"),
        ("xx", None),
        ("", None),
    ],
)
def test_match_locale_accepts_bcp47_and_underscores(tag: str, expected: str | None) -> None:
    assert match_locale(tag) == expected


def test_email_locale_says_whether_the_customer_preference_matched() -> None:
    assert email_locale(["xx", "pt-BR"], "de") == ("pt_BR", True)
    assert email_locale(["xx"], "de") == ("de", False)
    assert email_locale(["xx"], "de-AT") == ("de", False)
    assert email_locale([], None) == ("en", False)
    assert email_locale(["zh-Hant"], "xx") == ("zh_Hant_TW", True)
    assert email_locale(["tlh"], "xx") == ("en", False)


@pytest.mark.parametrize("tag", ["pt-BR", "pt_BR", "fr-CA", "fr_CA", "fr-BE", "de", "ja", "zh-TW", "zh_Hant_HK"])
def test_preview_takes_either_form(tmp_path, tag: str) -> None:
    """`relance preview --locale` takes every shipped locale, BCP 47 or underscored; a
    regional tag keeps its region (fr-BE: French words, Belgian formats)."""
    engine = get_engine(f"sqlite:///{tmp_path / 'relance.db'}")
    with Session(engine) as session:
        files = write_preview(session, EmailKind.invoice_finalized, tag, tmp_path / "out")
    expected = choose_locale([tag]).tag
    assert files[0].name == f"invoice_finalized.{expected}.html"
    assert f'lang="{expected}"' in files[0].read_text()


def test_preview_takes_every_shipped_locale_in_bcp47(tmp_path) -> None:
    engine = get_engine(f"sqlite:///{tmp_path / 'relance.db'}")
    with Session(engine) as session:
        for tag in shipped_tags():
            files = write_preview(session, EmailKind.card_expiring, tag, tmp_path / tag)
            assert match_locale(tag) is not None and files[0].exists(), tag


def test_preview_refuses_an_unshipped_locale(tmp_path) -> None:
    engine = get_engine(f"sqlite:///{tmp_path / 'relance.db'}")
    with Session(engine) as session, pytest.raises(ValueError, match="'tlh' is not shipped"):
        write_preview(session, EmailKind.invoice_finalized, "tlh", tmp_path / "out")


async def test_unsupported_locale_is_logged_once_per_customer(harness: Harness, caplog) -> None:
    h = harness
    now = await h.now()
    caplog.set_level(logging.INFO, logger="relance.delivery")
    await h.send(event("customer.created", customer("cus_ja", locales=["tlh", "xx"]), created=now - DAY))
    await h.send(
        event("invoice.finalized", invoice("in_ja1", "cus_ja", due=now + 30 * DAY), created=now),
        event("invoice.finalized", invoice("in_ja2", "cus_ja", due=now + 30 * DAY), created=now),
    )
    sent = h.sent("invoice_finalized")
    assert len(sent) == 2
    said = [r.getMessage() for r in caplog.records if "does not ship" in r.getMessage()]
    assert said == ["customer cus_ja prefers tlh, xx, which Relance does not ship; their emails go out in en"]
