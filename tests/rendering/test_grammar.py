"""Sentences filled with names, amounts and dates: French elision ("d’Acme SAS"), the
ordinal first day of a month ("1er avril 2027", "1º de abril"), Italian "l’8" and French
typography (U+202F before ; : ! ?). Helpers first, then every kind rendered in every
shipped locale with a company name that starts with a vowel, read as real text."""

from __future__ import annotations

import html as htmllib
import re
from datetime import UTC, date, datetime
from typing import Any

import pytest

from relance.contracts.kinds import EmailKind
from relance.rendering.custom import sample_context
from relance.rendering.email import render_email
from relance.rendering.formatting import format_date
from relance.rendering.grammar import elide
from relance.rendering.i18n import supported_locales

NNBSP = "\u202f"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("de la part de Acme SAS", "de la part d’Acme SAS"),
        ("auprès de Élan", "auprès d’Élan"),
        ("plus que Uber", "plus qu’Uber"),
        ("le Atelier", "l’Atelier"),
        ("De Orange", "D’Orange"),
        ("de Hôtel Bleu", "d’Hôtel Bleu"),  # mute h
        ("de Hachette", "de Hachette"),  # an h not known to be mute keeps "de"
        ("de Onze Conseil", "de Onze Conseil"),
        ("de Yotta", "de Yotta"),
        ("de Bolt", "de Bolt"),
        ("de 3D Secure", "de 3D Secure"),
        ("le 1er avril", "le 1er avril"),
        ("monde Acme", "monde Acme"),  # "de" inside a word
        ("jusque au 8", "jusqu’au 8"),
    ],
)
def test_french_elision(text: str, expected: str) -> None:
    assert elide(text, "fr") == expected
    assert elide(text, "fr-CA") == expected


def test_elision_is_french_and_italian_only() -> None:
    assert elide("de Acme", "es") == "de Acme"
    assert elide("il 8 maggio, il 11 aprile, il 18 luglio", "it") == "l’8 maggio, l’11 aprile, il 18 luglio"
    assert elide("Il 8 maggio", "it") == "L’8 maggio"


@pytest.mark.parametrize(
    ("locale", "first", "second"),
    [
        ("fr", "1er avril 2027", "2 avril 2027"),
        ("fr_CA", "1er avril 2027", "2 avril 2027"),
        ("it", "1º aprile 2027", "2 aprile 2027"),
        ("pt_BR", "1º de abril de 2027", "2 de abril de 2027"),
        ("es", "1 de abril de 2027", "2 de abril de 2027"),
        ("de", "1. April 2027", "2. April 2027"),
        ("en", "April 1, 2027", "April 2, 2027"),
    ],
)
def test_first_day_of_month_is_an_ordinal_where_the_language_wants_it(locale: str, first: str, second: str) -> None:
    assert format_date(date(2027, 4, 1), locale) == first
    assert format_date(date(2027, 4, 2), locale) == second
    if locale == "fr":
        assert format_date(date(2027, 4, 1), locale, fmt="full") == "jeudi 1er avril 2027"
        assert format_date(date(2027, 4, 1), locale, fmt="short") == "01/04/2027"


def _context(kind: EmailKind, business: str):
    ctx = sample_context(kind)
    first = datetime(2027, 4, 1, 12, tzinfo=UTC)
    updates: dict[str, Any] = {"branding": ctx.branding.model_copy(update={"business_name": business})}
    if ctx.invoice is not None:
        updates["invoice"] = ctx.invoice.model_copy(
            update={"due_date": first, "paid_at": first if ctx.invoice.paid_at else None}
        )
    return ctx.model_copy(update=updates)


def _read(kind: EmailKind, locale: str, business: str = "Acme SAS") -> tuple[str, str, str]:
    content = render_email(kind, _context(kind, business), locale)
    body = htmllib.unescape(re.sub(r"<[^>]+>", " ", content.html.split("<body", 1)[1]))
    return content.subject, body, content.text


@pytest.mark.parametrize("kind", list(EmailKind), ids=lambda k: k.value)
def test_french_emails_elide_before_a_vowel_named_company(kind: EmailKind) -> None:
    subject, body, text = _read(kind, "fr")
    for part in (subject, body, text):
        assert not re.search(r"\b(de|que|le|la) Acme", part), part
    # The footer of every email names the company.
    assert "un compte auprès d’Acme SAS." in text
    assert "un compte auprès d’Acme SAS." in body
    # A consonant keeps "de".
    assert "auprès de Bolt SAS." in _read(kind, "fr", "Bolt SAS")[2]


def test_french_subjects_and_dates() -> None:
    subject, body, text = _read(EmailKind.invoice_finalized, "fr")
    assert subject == "Nouvelle facture INV-2026-0042 de la part d’Acme SAS"
    assert "à régler au plus tard le 1er avril 2027." in text
    assert "le 1er avril 2027" in body
    subject, _, text = _read(EmailKind.receipt, "fr")
    assert subject.endswith("d’Acme SAS")
    assert f"le 1er avril 2027. Merci{NNBSP}!" in text
    assert "Voici un petit rappel de la part d’Acme SAS." in _read(EmailKind.invoice_reminder, "fr")[2]


@pytest.mark.parametrize("kind", list(EmailKind), ids=lambda k: k.value)
def test_french_typography_narrow_no_break_space_before_double_punctuation(kind: EmailKind) -> None:
    subject, body, text = _read(kind, "fr")
    for part in (subject, body, text):
        # Every ; : ! ? after a word is preceded by U+202F (URLs and times have none before).
        loose = re.findall(r"\w[ \u00a0]+[;:!?]|\w[;!?](?=\s)", part)
        assert loose == [], loose


@pytest.mark.parametrize("locale", supported_locales())
@pytest.mark.parametrize("kind", [EmailKind.invoice_finalized, EmailKind.receipt], ids=lambda k: k.value)
def test_every_locale_writes_the_first_of_the_month(kind: EmailKind, locale: str) -> None:
    _, body, text = _read(kind, locale)
    expected = {
        "en": "April 1, 2027",
        "de": "1. April 2027",
        "es": "1 de abril de 2027",
        "fr": "1er avril 2027",
        "it": "1º aprile 2027",
        "nl": "1 april 2027",
        "pt_BR": "1º de abril de 2027",
        "pt": "1 de abril de 2027",
        "ja": "2027年4月1日",
        "zh_Hant_TW": "2027年4月1日",
    }.get(locale) or format_date(date(2027, 4, 1), locale)  # the others: Babel's long date, cardinal
    assert expected in text
    assert expected in body


def test_italian_elides_il_before_eight_and_eleven() -> None:
    ctx = sample_context(EmailKind.payment_failed)
    assert ctx.invoice is not None
    ctx = ctx.model_copy(
        update={
            "invoice": ctx.invoice.model_copy(update={"next_payment_attempt": datetime(2027, 4, 8, 12, tzinfo=UTC)})
        }
    )
    assert "Riproveremo l’8 aprile 2027." in render_email(EmailKind.payment_failed, ctx, "it").text
