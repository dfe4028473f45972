"""Size checks on what a template computes: every filter (with specific checks for the
ones that multiply their input), the `*` and `**` operators, and range()."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from functools import wraps
from typing import Any

from relance.rendering.custom.budget import check_weight, current_budget, weight
from relance.rendering.custom.formats import check_printf
from relance.rendering.custom.limits import MAX_INT_BITS, MAX_RANGE, MAX_VALUE_CHARS, MAX_WORK_CHARS
from relance.rendering.custom.problems import LimitExceeded

_PASSED_PARAMS = {"environment", "env", "context", "eval_ctx"}


def _check_center(a: dict[str, Any]) -> None:
    width = a["width"]
    if isinstance(width, int) and width > MAX_VALUE_CHARS:
        raise LimitExceeded("|center width too large")


def _check_indent(a: dict[str, Any]) -> None:
    s, width = str(a["s"]), a["width"]
    per_line = width if isinstance(width, int) else len(str(width))
    if len(s) + (s.count("\n") + 1) * max(per_line, 0) > MAX_VALUE_CHARS:
        raise LimitExceeded("|indent would make too large a value")


def _check_wordwrap(a: dict[str, Any]) -> None:
    s = str(a["s"])
    wrap = a["wrapstring"]
    wrap_len = 1 if wrap is None else len(str(wrap))
    width = a["width"] if isinstance(a["width"], int) else 1
    breaks = min(len(s), len(s) // max(width, 1) + sum(s.count(c) for c in " \t\n-") + 1)
    if len(s) + breaks * wrap_len > MAX_VALUE_CHARS:
        raise LimitExceeded("|wordwrap would make too large a value")


def _check_replace(a: dict[str, Any]) -> None:
    s, old, new, count = str(a["s"]), str(a["old"]), str(a["new"]), a["count"]
    hits = s.count(old) if old else len(s) + 1
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    if len(s) + hits * max(len(new) - len(old), 0) > MAX_VALUE_CHARS:
        raise LimitExceeded("|replace would make too large a value")


def _check_join(a: dict[str, Any]) -> None:
    # Materialized here so the items are weighed once and the filter gets the same ones.
    items = a["value"] = list(a["value"])
    total = len(str(a["d"])) * max(len(items) - 1, 0)
    for item in items:
        total += weight(item, MAX_VALUE_CHARS - total)
        if total > MAX_VALUE_CHARS:
            raise LimitExceeded("|join would make too large a value")


def _check_format(a: dict[str, Any]) -> None:
    check_printf(str(a["value"]))


def _check_batch(a: dict[str, Any]) -> None:
    if isinstance(a["linecount"], int) and a["linecount"] > MAX_RANGE:
        raise LimitExceeded(f"|batch size above {MAX_RANGE}")


def _check_slice(a: dict[str, Any]) -> None:
    if isinstance(a["slices"], int) and a["slices"] > MAX_RANGE:
        raise LimitExceeded(f"|slice count above {MAX_RANGE}")


def _check_sum(a: dict[str, Any]) -> None:
    # Summing lists concatenates them: [l, l, l, ...]|sum(start=[]) multiplies l.
    items = a["iterable"] = list(a["iterable"])
    total = weight(a["start"])
    for item in items:
        total += weight(item, MAX_VALUE_CHARS - total)
        if total > MAX_VALUE_CHARS:
            raise LimitExceeded("|sum would make too large a value")


def _check_urlize(a: dict[str, Any]) -> None:
    # Every link repeats target and rel, so they multiply the text.
    extra = len(str(a["target"] or "")) + len(str(a["rel"] or ""))
    if extra > 200:
        raise LimitExceeded("|urlize target and rel are limited to 200 characters")


def _check_tojson(a: dict[str, Any]) -> None:
    indent = a["indent"]
    if indent is not None and (len(indent) if isinstance(indent, str) else indent) > 16:
        raise LimitExceeded("|tojson indent above 16")


def _check_date_format(a: dict[str, Any]) -> None:
    # Babel keeps the last 1,024 parsed patterns: long made-up ones would stay in memory.
    if len(str(a["fmt"])) > 100:
        raise LimitExceeded("date format patterns are limited to 100 characters")


def _check_money(a: dict[str, Any]) -> None:
    if len(str(a["currency"])) > 10:
        raise LimitExceeded("not a currency code")


_FILTER_CHECKS: dict[str, Callable[[dict[str, Any]], None]] = {
    "center": _check_center,
    "indent": _check_indent,
    "wordwrap": _check_wordwrap,
    "replace": _check_replace,
    "join": _check_join,
    "format": _check_format,
    "batch": _check_batch,
    "slice": _check_slice,
    "sum": _check_sum,
    "urlize": _check_urlize,
    "tojson": _check_tojson,
    "date": _check_date_format,
    "datetime": _check_date_format,
    "money": _check_money,
}


def guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    pass_arg = getattr(func, "jinja_pass_arg", None)
    skip = 1 if pass_arg is not None else 0
    check = _FILTER_CHECKS.get(name)
    signature = None
    if check is not None:
        # Some filters' signatures include the passed context/environment and some
        # (Jinja's async variants) do not; bind the template's own arguments only.
        signature = inspect.signature(func)
        params = list(signature.parameters.values())
        if skip and params and params[0].name in _PASSED_PARAMS:
            signature = signature.replace(parameters=params[1:])

    @wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        budget = current_budget()
        for value in (*args[skip:], *kwargs.values()):
            check_weight(value, f"the value given to |{name}")
        if signature is not None and check is not None:
            bound = signature.bind(*args[skip:], **kwargs)
            bound.apply_defaults()
            check(bound.arguments)
            result = func(*args[:skip], *bound.args, **bound.kwargs)
        else:
            result = func(*args, **kwargs)
        budget.charge(weight(result, MAX_WORK_CHARS))
        return result

    if pass_arg is not None:
        guarded.jinja_pass_arg = pass_arg  # type: ignore[attr-defined]
    return guarded


def check_multiply(left: Any, right: Any) -> None:
    if isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise LimitExceeded("'*' would make too large a number")
        return
    seq, times = (left, right) if isinstance(right, int) else (right, left)
    if isinstance(seq, (str, list, tuple)) and isinstance(times, int) and times > 0:
        if weight(seq, MAX_VALUE_CHARS // times + 1) * times > MAX_VALUE_CHARS:
            raise LimitExceeded("'*' would make too large a value")


def check_power(base: Any, exponent: Any) -> None:
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
        # Checked on the exponent before multiplying, so 10 ** 10**100 is cheap to refuse.
        if exponent > MAX_INT_BITS or exponent * math.log2(abs(base)) > MAX_INT_BITS:
            raise LimitExceeded("'**' would make too large a number")


def safe_range(*args: int) -> range:
    rng = range(*args)
    if len(rng) > MAX_RANGE:
        raise LimitExceeded(f"range() is limited to {MAX_RANGE} items")
    return rng
