"""The text part derived from a custom template's HTML, when it has none of its own."""

from __future__ import annotations

import re

from inscriptis import get_text
from inscriptis.model.config import ParserConfig

_TEXT_CONFIG = ParserConfig(display_links=True)
# inscriptis collapses no-break spaces like ordinary ones, which would let a text
# client wrap "1 234,50 €" across lines; they ride through as private-use characters.
_NO_BREAK = {"\u00a0": "\ue000", "\u202f": "\ue001"}
_NBSP_ENTITY = re.compile(r"&(?:nbsp|#0*160|#[xX]0*[aA]0);")
_NNBSP_ENTITY = re.compile(r"&(?:#0*8239|#[xX]0*202[fF]);")


def html_to_text(html: str) -> str:
    html = _NNBSP_ENTITY.sub("\u202f", _NBSP_ENTITY.sub("\u00a0", html))
    for char, stand_in in _NO_BREAK.items():
        html = html.replace(char, stand_in)
    text: str = get_text(html, _TEXT_CONFIG)
    for char, stand_in in _NO_BREAK.items():
        text = text.replace(stand_in, char)
    return text
