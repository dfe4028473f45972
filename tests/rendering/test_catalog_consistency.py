"""A locale's catalog files are merged into one when loaded, so a msgid that two files of
one locale translate differently reads one way or the other depending on load order."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from relance.rendering.i18n import LOCALES_DIR, SOURCE_LOCALE, supported_locales


def _translations(po: Path) -> dict[str, object]:
    with po.open("rb") as fh:
        catalog = read_po(fh)
    return {str(m.id if isinstance(m.id, str) else m.id[0]): m.string for m in catalog if m.id}


@pytest.mark.parametrize("locale", [loc for loc in supported_locales() if loc != SOURCE_LOCALE])
def test_a_string_reads_the_same_in_every_file_of_a_locale(locale: str) -> None:
    seen: dict[str, tuple[str, object]] = {}
    disagreements = []
    for po in sorted((LOCALES_DIR / locale / "LC_MESSAGES").glob("*.po")):
        for msgid, text in _translations(po).items():
            first = seen.setdefault(msgid, (po.name, text))
            if first[1] != text:
                disagreements.append(f"{msgid!r}: {first[0]} {first[1]!r}, {po.name} {text!r}")
    assert not disagreements, f"{locale}: " + "; ".join(disagreements)
