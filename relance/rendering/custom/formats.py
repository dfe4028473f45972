"""printf-style formats (`|format`, `%`) checked before Python builds them."""

from __future__ import annotations

from relance.rendering.custom.limits import MAX_FORMAT_WIDTH
from relance.rendering.custom.problems import LimitExceeded


def check_printf(fmt: str) -> None:
    """Refuse "%999999999d", "%.999999999f" and "%*d" before Python builds them.

    Follows CPython's own parser: "%(key)" with nested parentheses, flags, width,
    precision, length modifier, conversion.
    """
    i, n = 0, len(fmt)
    while (i := fmt.find("%", i)) >= 0:
        i += 1
        if i < n and fmt[i] == "(":
            depth, i = 1, i + 1
            while i < n and depth:
                depth += {"(": 1, ")": -1}.get(fmt[i], 0)
                i += 1
        while i < n and fmt[i] in "-+ #0":
            i += 1
        for field in ("width", "precision"):
            if i < n and fmt[i] == "*":
                raise LimitExceeded(f"a '*' {field} is not allowed in a format")
            start = i
            while i < n and fmt[i] in "0123456789":
                i += 1
            digits = fmt[start:i].lstrip("0")
            if len(digits) > 6 or (digits and int(digits) > MAX_FORMAT_WIDTH):
                raise LimitExceeded(f"a format {field} above {MAX_FORMAT_WIDTH} is not allowed")
            if field == "width" and i < n and fmt[i] == ".":
                i += 1
            else:
                break
        while i < n and fmt[i] in "hlL":
            i += 1
        i += 1  # the conversion character, "%" included
