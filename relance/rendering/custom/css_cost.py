"""CSS inlining (css-inline) of a custom template's HTML, refused when too costly."""

from __future__ import annotations

import logging
import re

import css_inline

from relance.rendering.custom.limits import (
    MAX_CSS_CHAR_ELEMENTS,
    MAX_CSS_DECL_ELEMENTS,
    MAX_CSS_DECLARATIONS,
    MAX_INLINE_ELEMENTS,
    MAX_INLINED_CHARS,
)
from relance.rendering.custom.problems import TemplateProblem

log = logging.getLogger(__name__)

# keep_style_tags keeps @media rules, which cannot be inlined; nothing is fetched.
_INLINER = css_inline.CSSInliner(keep_style_tags=True, load_remote_stylesheets=False)
_STYLE = re.compile(r"<style[\s/>](.*?)(?:</style|\Z)", re.IGNORECASE | re.DOTALL)
_ELEMENT = re.compile(r"<[A-Za-z]")


def css_cost(html: str, css: str) -> str | None:
    """Why inlining this HTML would be too costly or unsafe, or None.

    css-inline holds the GIL throughout (no deadline can stop it) and copies every
    matching declaration onto every element: CSS size x elements bounds its output,
    declarations x elements its time. Overestimates: every ':' counts as a
    declaration, every '<' followed by a letter as an element.
    """
    elements = len(_ELEMENT.findall(html))
    if elements > MAX_INLINE_ELEMENTS:
        return f"too many elements to inline CSS ({elements}; at most {MAX_INLINE_ELEMENTS})"
    declarations = css.count(":")
    if declarations > MAX_CSS_DECLARATIONS:
        return f"too many CSS declarations ({declarations}; at most {MAX_CSS_DECLARATIONS})"
    if declarations * elements > MAX_CSS_DECL_ELEMENTS or len(css) * elements > MAX_CSS_CHAR_ELEMENTS:
        return (
            f"too much CSS for the number of elements ({len(css)} characters of CSS, {elements} elements): "
            "put styles on the elements or trim the stylesheet"
        )
    return None


def inline_css(html: str, strict: bool) -> str:
    css = "".join(_STYLE.findall(html))
    if not css.strip():
        return html  # nothing to inline; css-inline would only re-serialize it
    reason = css_cost(html, css)
    if reason is None:
        inlined = _INLINER.inline(html)
        if len(inlined) <= MAX_INLINED_CHARS:
            return inlined
        reason = f"the HTML with CSS inlined is larger than {MAX_INLINED_CHARS // 1024} KB"
    if strict:
        raise TemplateProblem("html", reason)
    # At send time the data can make the HTML bigger than the trial render's: the
    # email goes out with its <style> block rather than not at all.
    log.warning("custom template: CSS not inlined: %s", reason)
    return html
