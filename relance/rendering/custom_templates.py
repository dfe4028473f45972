"""Account owners' own email templates, rendered in a sandbox.

An owner may replace Relance's template for an email kind with their own subject, HTML
and (optionally) text. Those templates are untrusted code: whoever can upload one must
not be able to read the worker's memory or files, run Python, put unescaped customer
text into the HTML, or stall or exhaust the worker that sends everyone's email. They
see the same variables and filters as the default templates (`relance.rendering.email`), but
through `jinja2.sandbox.ImmutableSandboxedEnvironment` plus the layers below.

What the sandbox alone does not cover, and what this module adds:

* Attribute access is narrowed. Pydantic models expose their fields only (their
  classmethods include the deprecated `parse_file`, which reads any path, such as
  /dev/zero); other objects expose data attributes and a short list of
  non-amplifying methods (`"x".upper()`, `d.items()`, `loop.cycle()`...).
  `str.format` and `str.format_map` are refused outright rather than sandboxed: the
  format-string escapes of the last years (CVE-2024-56326, CVE-2025-27516) all went
  through them, and `|format` (printf style, no attribute lookups) covers the need.
* No template can reach another: there is no loader, and `extends`, `include`,
  `import` and `from` are refused when the source is parsed. `autoescape` blocks and
  `|safe` are refused too, so customer text is always escaped in the HTML part.
* Size. The sandbox lets `"a" * 10**9` through, and a one-line template can make
  Python allocate gigabytes in a single C call, which no timer can interrupt. Every
  way a template makes a large value goes through a check before the value is built:
  the `*`, `**`, `+` and `%` operators, `~`, every filter (with specific checks for
  the ones that multiply their input: center, indent, wordwrap, replace, join,
  format, batch, slice, sum, urlize, tojson), every call, every printed value, and
  every buffer a macro, `{% set %}` block or `{% filter %}` block writes to. Each
  part also has a total budget for all the text it builds, and a cap on its output.
* Time. The whole render runs in a worker thread with a wall-clock deadline; past it
  an exception is raised inside that thread (see `_run_with_deadline`).
* CSS inlining (css-inline) holds the GIL and is quadratic in (declarations x
  elements): 120 KB of HTML took 70 s. Its work is estimated first (`_css_cost`).

What it cannot do in-process: C code that holds the GIL cannot be interrupted, so the
guarantees rest on no template-reachable C call being expensive, which is what the
checks above are for. A process-level memory limit on the worker (RLIMIT_AS, a
container limit) is still the backstop.

Template syntax is Jinja's, with `trim_blocks` and `lstrip_blocks` on, like Relance's
own templates. HTML is autoescaped; the subject and text parts are not.
"""

from __future__ import annotations

import ctypes
import inspect
import logging
import math
import re
import threading
import time
import types
from collections.abc import Callable, ItemsView, KeysView, Sequence, ValuesView
from datetime import UTC, date, datetime
from functools import lru_cache, wraps
from typing import Any, Literal

import css_inline
from inscriptis import get_text
from inscriptis.model.config import ParserConfig
from jinja2 import BaseLoader, StrictUndefined, Template, TemplateNotFound, TemplateSyntaxError, nodes
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.filters import FILTERS
from jinja2.runtime import LoopContext, TemplateReference
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Cycler, Namespace
from markupsafe import Markup
from pydantic import BaseModel

from relance.contracts.email_context import (
    Branding,
    CardView,
    CreditNoteView,
    CustomerView,
    EmailContext,
    InvoiceView,
    LineItem,
    Links,
    RefundView,
    ReminderView,
    SubscriptionView,
)
from relance.contracts.kinds import EmailKind
from relance.contracts.messages import RenderedContent
from relance.rendering.email import _template_vars, check_context, email_environment, one_line

log = logging.getLogger(__name__)

Part = Literal["subject", "html", "text"]

# ---- limits ------------------------------------------------------------------------

# Relance's own invoice email is ~19 KB of template, layout and macros included; 100 KB
# leaves room for a designer's table layout and keeps a stored version small.
MAX_SOURCE_BYTES = 100 * 1024
# Per part, as rendered. Gmail clips HTML past 102 KB anyway; this only stops abuse.
MAX_OUTPUT_CHARS = 512 * 1024
# The largest single value (string, list...) a template may build or print.
MAX_VALUE_CHARS = MAX_OUTPUT_CHARS
# Everything one part builds along the way (buffers, joins, filter results...). Bounds
# what a render can allocate in total, whatever it discards.
MAX_WORK_CHARS = 8 * 1024 * 1024
# Widths and precisions in printf formats: "%999999999d" is a 1 GB string.
MAX_FORMAT_WIDTH = 1000
# Integers a template computes: money needs a few dozen bits; 10 ** 10**9 needs a
# billion-digit number. 4096 bits is ~1,230 digits.
MAX_INT_BITS = 4096
# range() and the loops it drives. An email has no business counting past this.
MAX_RANGE = 10_000
# The whole render (all parts, CSS inlining, text derivation), wall clock.
RENDER_SECONDS = 2.0
# How long to wait for the worker thread to unwind once it has been told to stop.
STOP_GRACE_SECONDS = 1.0
# css-inline's work, estimated from the HTML before it runs (see _css_cost): at these
# bounds the worst inputs measured took ~0.2 s and produced ~4 MB.
MAX_CSS_CHAR_ELEMENTS = 8_000_000
MAX_CSS_DECL_ELEMENTS = 400_000
MAX_CSS_DECLARATIONS = 2_000
# css-inline 0.24 overflows its stack (SIGSEGV: the whole worker dies) on documents
# nested ~11,000 elements deep with an 8 MB stack, which 60 KB of unclosed <div> reach.
# Nesting stayed under 1.25x the number of tags in every trick tried (implied tbody and
# tr, re-opened formatting elements, misnesting); 2,500 tags leaves a wide margin. A
# billing email has a few hundred.
MAX_INLINE_ELEMENTS = 2_500
# An inlined HTML part past this is sent without inlining (validation refuses it).
MAX_INLINED_CHARS = 1024 * 1024


# ---- errors ------------------------------------------------------------------------


class TemplateProblem(ValueError):
    """Why a custom template cannot be used, with the part and line when known."""

    def __init__(self, part: Part, message: str, line: int | None = None) -> None:
        self.part = part
        self.message = message
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.part if self.line is None else f"{self.part}, line {self.line}"
        return f"{where}: {self.message}"


class _LimitExceeded(SecurityError):
    # A SecurityError raised inside template code, so Jinja attaches the template line.
    pass


class _RenderTimeout(BaseException):
    # BaseException, so no `except Exception` in Jinja, Babel or a filter swallows it.
    pass


# ---- the template the owner uploads ------------------------------------------------


class CustomTemplate(BaseModel):
    subject: str
    html: str
    text: str | None = None  # None: derived from the rendered HTML


# ---- budget ------------------------------------------------------------------------


class _Budget:
    __slots__ = ("spent",)

    def __init__(self) -> None:
        self.spent = 0

    def charge(self, chars: int) -> None:
        self.spent += chars
        if self.spent > MAX_WORK_CHARS:
            raise _LimitExceeded(f"the template builds too much text (over {MAX_WORK_CHARS // 1024 // 1024} MB)")


_local = threading.local()


def _budget() -> _Budget:
    budget = getattr(_local, "budget", None)
    if budget is None:
        # Only compile-time constant folding runs outside a render: refusing makes Jinja
        # leave the expression to runtime, where the budget and deadline apply.
        raise nodes.Impossible()
    return budget


def _weight(value: Any, cap: int = MAX_VALUE_CHARS) -> int:
    """Roughly how many characters `str(value)` would be, counting no further than
    just past `cap`, so weighing a huge (or self-referencing) value stays cheap.

    str(list) is computed in C in one go: `[s, s, s, ...]` with a 500 KB `s` is a
    25 GB string from a 100 KB template, so sizes are estimated before printing.
    """
    if isinstance(value, str):
        return len(value)
    total = 0
    stack = [value]
    while stack and total <= cap:
        v = stack.pop()
        if isinstance(v, str):
            # repr() adds quotes and escapes; \x.. and \U........ make it up to 10x, but
            # only for control and unprintable characters, so a flat margin is kept.
            total += len(v) + 4
        elif isinstance(v, bool) or v is None:
            total += 5
        elif isinstance(v, int):
            total += v.bit_length() // 3 + 2
        elif isinstance(v, (list, tuple, set, frozenset)):
            total += 2 + len(v)
            stack.extend(v)
        elif isinstance(v, dict):
            total += 2 + 2 * len(v)
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, (KeysView, ValuesView, ItemsView)):
            total += 14 + len(v)  # printed in full: dict_items([...])
            stack.extend(v)
        elif isinstance(v, BaseModel):
            total += len(type(v).__name__) + 2
            for name in type(v).model_fields:
                total += len(name) + 3
                stack.append(getattr(v, name, None))
        elif isinstance(v, Namespace):
            total += 14
            stack.append(object.__getattribute__(v, "_Namespace__attrs"))
        else:
            # Numbers, dates, generators, loop and macro objects: short reprs.
            total += 64
    return total


def _check_weight(value: Any, what: str) -> None:
    if _weight(value) > MAX_VALUE_CHARS:
        raise _LimitExceeded(f"{what} is too large (over {MAX_VALUE_CHARS // 1024} KB)")


# ---- printf formats ----------------------------------------------------------------


def _check_printf(fmt: str) -> None:
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
                raise _LimitExceeded(f"a '*' {field} is not allowed in a format")
            start = i
            while i < n and fmt[i] in "0123456789":
                i += 1
            digits = fmt[start:i].lstrip("0")
            if len(digits) > 6 or (digits and int(digits) > MAX_FORMAT_WIDTH):
                raise _LimitExceeded(f"a format {field} above {MAX_FORMAT_WIDTH} is not allowed")
            if field == "width" and i < n and fmt[i] == ".":
                i += 1
            else:
                break
        while i < n and fmt[i] in "hlL":
            i += 1
        i += 1  # the conversion character, "%" included


# ---- filters -----------------------------------------------------------------------

_PASSED_PARAMS = {"environment", "env", "context", "eval_ctx"}


def _check_center(a: dict) -> None:
    width = a["width"]
    if isinstance(width, int) and width > MAX_VALUE_CHARS:
        raise _LimitExceeded("|center width too large")


def _check_indent(a: dict) -> None:
    s, width = str(a["s"]), a["width"]
    per_line = width if isinstance(width, int) else len(str(width))
    if len(s) + (s.count("\n") + 1) * max(per_line, 0) > MAX_VALUE_CHARS:
        raise _LimitExceeded("|indent would make too large a value")


def _check_wordwrap(a: dict) -> None:
    s = str(a["s"])
    wrap = a["wrapstring"]
    wrap_len = 1 if wrap is None else len(str(wrap))
    width = a["width"] if isinstance(a["width"], int) else 1
    breaks = min(len(s), len(s) // max(width, 1) + sum(s.count(c) for c in " \t\n-") + 1)
    if len(s) + breaks * wrap_len > MAX_VALUE_CHARS:
        raise _LimitExceeded("|wordwrap would make too large a value")


def _check_replace(a: dict) -> None:
    s, old, new, count = str(a["s"]), str(a["old"]), str(a["new"]), a["count"]
    hits = s.count(old) if old else len(s) + 1
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    if len(s) + hits * max(len(new) - len(old), 0) > MAX_VALUE_CHARS:
        raise _LimitExceeded("|replace would make too large a value")


def _check_join(a: dict) -> None:
    # Materialized here so the items are weighed once and the filter gets the same ones.
    items = a["value"] = list(a["value"])
    total = len(str(a["d"])) * max(len(items) - 1, 0)
    for item in items:
        total += _weight(item, MAX_VALUE_CHARS - total)
        if total > MAX_VALUE_CHARS:
            raise _LimitExceeded("|join would make too large a value")


def _check_format(a: dict) -> None:
    _check_printf(str(a["value"]))


def _check_batch(a: dict) -> None:
    if isinstance(a["linecount"], int) and a["linecount"] > MAX_RANGE:
        raise _LimitExceeded(f"|batch size above {MAX_RANGE}")


def _check_slice(a: dict) -> None:
    if isinstance(a["slices"], int) and a["slices"] > MAX_RANGE:
        raise _LimitExceeded(f"|slice count above {MAX_RANGE}")


def _check_sum(a: dict) -> None:
    # Summing lists concatenates them: [l, l, l, ...]|sum(start=[]) multiplies l.
    items = a["iterable"] = list(a["iterable"])
    total = _weight(a["start"])
    for item in items:
        total += _weight(item, MAX_VALUE_CHARS - total)
        if total > MAX_VALUE_CHARS:
            raise _LimitExceeded("|sum would make too large a value")


def _check_urlize(a: dict) -> None:
    # Every link repeats target and rel, so they multiply the text.
    extra = len(str(a["target"] or "")) + len(str(a["rel"] or ""))
    if extra > 200:
        raise _LimitExceeded("|urlize target and rel are limited to 200 characters")


def _check_tojson(a: dict) -> None:
    indent = a["indent"]
    if indent is not None and (len(indent) if isinstance(indent, str) else indent) > 16:
        raise _LimitExceeded("|tojson indent above 16")


def _check_date_format(a: dict) -> None:
    # Babel keeps the last 1,024 parsed patterns: long made-up ones would stay in memory.
    if len(str(a["fmt"])) > 100:
        raise _LimitExceeded("date format patterns are limited to 100 characters")


def _check_money(a: dict) -> None:
    if len(str(a["currency"])) > 10:
        raise _LimitExceeded("not a currency code")


_FILTER_CHECKS: dict[str, Callable[[dict], None]] = {
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


def _guard_filter(name: str, func: Callable) -> Callable:
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
        budget = _budget()
        for value in (*args[skip:], *kwargs.values()):
            _check_weight(value, f"the value given to |{name}")
        if signature is not None and check is not None:
            bound = signature.bind(*args[skip:], **kwargs)
            bound.apply_defaults()
            check(bound.arguments)
            result = func(*args[:skip], *bound.args, **bound.kwargs)
        else:
            result = func(*args, **kwargs)
        budget.charge(_weight(result, MAX_WORK_CHARS))
        return result

    if pass_arg is not None:
        guarded.jinja_pass_arg = pass_arg  # type: ignore[attr-defined]
    return guarded


# ---- attributes --------------------------------------------------------------------

# Refused whatever the object: the classic walks from a value to Python's internals.
# Most start with "_" (the sandbox refuses those already) or do not exist in Python 3;
# naming them keeps the intent visible and survives a future relaxation upstream.
_FORBIDDEN_ATTRIBUTES = frozenset(
    {
        "__class__",
        "__mro__",
        "__subclasses__",
        "__globals__",
        "__init__",
        "__builtins__",
        "__dict__",
        "__getattribute__",
        "__reduce__",
        "__reduce_ex__",
        "__self__",
        "__func__",
        "mro",
        "format",
        "format_map",
        "func_globals",
        "func_code",
        "func_closure",
        "func_defaults",
        "im_func",
        "im_self",
        "im_class",
        "gi_frame",
        "gi_code",
        "gi_yieldfrom",
        "cr_frame",
        "cr_code",
        "cr_await",
        "ag_frame",
        "ag_code",
        "ag_await",
        "f_globals",
        "f_locals",
        "f_builtins",
        "f_back",
        "f_code",
        "tb_frame",
        "tb_next",
    }
)

# Methods a template may call, by receiver type. Everything else callable is refused:
# str.center/ljust/zfill/expandtabs/replace/join/translate and int.to_bytes turn a few
# characters of template into gigabytes inside one C call. The filters cover those
# needs with size checks.
_STR_METHODS = frozenset(
    {
        "capitalize",
        "casefold",
        "count",
        "endswith",
        "find",
        "index",
        "isalnum",
        "isalpha",
        "isascii",
        "isdecimal",
        "isdigit",
        "islower",
        "isnumeric",
        "isspace",
        "istitle",
        "isupper",
        "lower",
        "lstrip",
        "partition",
        "removeprefix",
        "removesuffix",
        "rfind",
        "rindex",
        "rpartition",
        "rsplit",
        "rstrip",
        "split",
        "splitlines",
        "startswith",
        "strip",
        "swapcase",
        "title",
        "upper",
    }
)
_ALLOWED_METHODS: tuple[tuple[type | tuple[type, ...], frozenset[str]], ...] = (
    (Markup, _STR_METHODS | {"striptags", "unescape"}),
    (str, _STR_METHODS),
    (dict, frozenset({"get", "items", "keys", "values"})),
    ((list, tuple), frozenset({"count", "index"})),
    ((date, datetime), frozenset({"isoformat", "weekday", "isoweekday", "date"})),
    (LoopContext, frozenset({"cycle", "changed"})),
    (Cycler, frozenset({"next", "reset"})),
)


def _method_allowed(obj: Any, attr: str) -> bool:
    if isinstance(obj, TemplateReference):
        return True  # self.<block>() renders one of the template's own blocks
    if isinstance(obj, type):
        return False  # dict.fromkeys, cycler.reset...: classes are not receivers
    return any(isinstance(obj, types_) and attr in names for types_, names in _ALLOWED_METHODS)


# ---- environment -------------------------------------------------------------------


class _Buffer(list):
    """Where macros, `{% set %}` blocks, `{% filter %}` blocks and `caller()` collect
    their output. Jinja joins it in one go at the end, so a loop writing a constant
    10,000 times into it would otherwise only be noticed as a multi-gigabyte join."""

    __slots__ = ()

    def append(self, item: Any) -> None:
        _budget().charge(len(item))
        list.append(self, item)

    def extend(self, items: Any) -> None:
        items = tuple(items)
        _budget().charge(sum(len(item) for item in items))
        list.extend(self, items)


class _GuardedCodeGenerator(CodeGenerator):
    """Jinja's code generator with the two writes that bypass the sandbox routed
    through the environment: output buffers and the `~` operator."""

    def buffer(self, frame: Frame) -> None:
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = environment.new_buffer()")

    @optimizeconst
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        # Same choice of join function as Jinja's own visit_Concat.
        if frame.eval_ctx.volatile:
            func_name = "(markup_join if context.eval_ctx.volatile else str_join)"
        elif frame.eval_ctx.autoescape:
            func_name = "markup_join"
        else:
            func_name = "str_join"
        self.write(f"environment.guarded_join({func_name}, (")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _NoLoader(BaseLoader):
    def get_source(self, environment: Any, template: str) -> Any:
        raise TemplateNotFound(template, "custom templates cannot include, import or extend other templates")


def _safe_range(*args: int) -> range:
    rng = range(*args)
    if len(rng) > MAX_RANGE:
        raise _LimitExceeded(f"range() is limited to {MAX_RANGE} items")
    return rng


class _Sandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+", "%"})
    code_generator_class = _GuardedCodeGenerator

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if attr in _FORBIDDEN_ATTRIBUTES or not super().is_safe_attribute(obj, attr, value):
            return False
        if isinstance(obj, BaseModel):
            return attr in type(obj).model_fields
        if callable(value):
            return _method_allowed(obj, attr)
        return True

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, BaseModel) and attribute not in type(obj).model_fields:
            return self._not_a_field(obj, attribute)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(obj, BaseModel) and isinstance(argument, str) and argument not in type(obj).model_fields:
            return self._not_a_field(obj, argument)
        return super().getitem(obj, argument)

    def _not_a_field(self, obj: BaseModel, name: str) -> Any:
        # Decided on the class, without evaluating the attribute: some of pydantic's
        # instance attributes do work or warn when read.
        if hasattr(type(obj), name):
            return self.unsafe_undefined(obj, name)
        return self.undefined(obj=obj, name=name)

    def wrap_str_format(self, value: Any) -> Any:
        # The sandbox would hand back a sandboxed str.format; refusing it removes the
        # whole family of format-string escapes, however the method was reached
        # (attribute, |attr, map(attribute=), a stored reference).
        if (
            isinstance(value, (types.MethodType, types.BuiltinMethodType))
            and value.__name__ in ("format", "format_map")
            and isinstance(getattr(value, "__self__", None), str)
        ):
            return self.undefined(
                f"str.{value.__name__} is not available in custom templates; use the |format filter",
                name=value.__name__,
                exc=SecurityError,
            )
        return None

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            _check_multiply(left, right)
        elif operator == "**":
            _check_power(left, right)
        elif operator == "+":
            if isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
                if _weight(left) + _weight(right) > MAX_VALUE_CHARS:
                    raise _LimitExceeded("'+' would make too large a value")
        elif operator == "%" and isinstance(left, str):
            _check_printf(left)
            _check_weight(right, "the values given to '%'")
        result = self.binop_table[operator](left, right)
        if isinstance(result, (str, list, tuple)):
            _budget().charge(_weight(result, MAX_WORK_CHARS))
        return result

    def call(__self, __context: Any, __obj: Any, /, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        result = super().call(__context, __obj, *args, **kwargs)
        _budget().charge(_weight(result, MAX_WORK_CHARS))
        return result

    def new_buffer(self) -> _Buffer:
        return _Buffer()

    def guarded_join(self, join: Callable[[Any], str], items: tuple) -> str:
        total = 0
        for item in items:
            total += _weight(item, MAX_VALUE_CHARS - total)
            if total > MAX_VALUE_CHARS:
                raise _LimitExceeded("'~' would make too large a value")
        result = join(items)
        _budget().charge(len(result))
        return result


def _check_multiply(left: Any, right: Any) -> None:
    if isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise _LimitExceeded("'*' would make too large a number")
        return
    seq, times = (left, right) if isinstance(right, int) else (right, left)
    if isinstance(seq, (str, list, tuple)) and isinstance(times, int) and times > 0:
        if _weight(seq, MAX_VALUE_CHARS // times + 1) * times > MAX_VALUE_CHARS:
            raise _LimitExceeded("'*' would make too large a value")


def _check_power(base: Any, exponent: Any) -> None:
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
        # Checked on the exponent before multiplying, so 10 ** 10**100 is cheap to refuse.
        if exponent > MAX_INT_BITS or exponent * math.log2(abs(base)) > MAX_INT_BITS:
            raise _LimitExceeded("'**' would make too large a number")


def _finalize(value: Any) -> Any:
    _budget()
    _check_weight(value, "a printed value")
    return value


@lru_cache(maxsize=32)
def _sandbox(locale: str, html: bool) -> _Sandbox:
    env = _Sandbox(
        loader=_NoLoader(),
        autoescape=html,
        undefined=StrictUndefined,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
        cache_size=0,
    )
    # The default templates' locale-bound filters, so money and dates read the same.
    own = email_environment(locale).filters
    filters = {name: f for name, f in FILTERS.items() if not (html and name == "safe")}
    filters.update({name: own[name] for name in ("money", "date", "datetime", "month_year", "card_brand")})
    env.filters = {name: _guard_filter(name, f) for name, f in filters.items()}
    env.globals = {
        "range": _safe_range,
        "dict": env.globals["dict"],
        "cycler": env.globals["cycler"],
        "joiner": env.globals["joiner"],
        "namespace": env.globals["namespace"],
    }
    return env


# ---- compiling ---------------------------------------------------------------------

_REFUSED_NODES: tuple[tuple[type[nodes.Node], str], ...] = (
    (nodes.Extends, "extends"),
    (nodes.Include, "include"),
    (nodes.Import, "import"),
    (nodes.FromImport, "from ... import"),
)


# Compiled code for a 100 KB template can weigh megabytes: a few dozen are plenty for
# the kinds x locales one deployment sends.
@lru_cache(maxsize=64)
def _compiled(locale: str, part: Part, source: str) -> Template:
    env = _sandbox(locale, part == "html")
    filename = f"<{part}>"
    try:
        tree = env.parse(source, filename=filename)
        for node_type, tag in _REFUSED_NODES:
            for node in tree.find_all(node_type):
                raise TemplateProblem(part, f"{{% {tag} %}} is not available in custom templates", node.lineno)
        for node in tree.find_all(nodes.EvalContextModifier):
            raise TemplateProblem(part, "{% autoescape %} is not available in custom templates", node.lineno)
        code = env.compile(tree, filename=filename)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(part, exc.message or "syntax error", exc.lineno) from None
    except (RecursionError, SyntaxError):
        # Jinja's parser recurses per nesting level, and Python refuses more than 20
        # nested blocks in the code Jinja generates.
        raise TemplateProblem(part, "the template is nested too deeply") from None
    return env.template_class.from_code(env, code, env.make_globals(None))


def _error_line(exc: BaseException, part: Part) -> int | None:
    """The template line Jinja wrote into the traceback, if the error came from there."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == f"<{part}>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _problem(exc: BaseException, part: Part) -> TemplateProblem:
    if isinstance(exc, TemplateProblem):
        return exc
    if isinstance(exc, TemplateSyntaxError):
        return TemplateProblem(part, exc.message or "syntax error", exc.lineno)
    if isinstance(exc, RecursionError):
        message = "too much recursion"
    elif isinstance(exc, TemplateError):
        message = exc.message or type(exc).__name__
    else:
        message = f"{type(exc).__name__}: {exc}"
    return TemplateProblem(part, message, _error_line(exc, part))


def _check_sources(template: CustomTemplate) -> None:
    for part in ("subject", "html", "text"):
        source = getattr(template, part)
        if source is not None and len(source.encode("utf-8", "surrogatepass")) > MAX_SOURCE_BYTES:
            raise TemplateProblem(part, f"the template is larger than {MAX_SOURCE_BYTES // 1024} KB")


# ---- rendering ---------------------------------------------------------------------


class _Progress:
    """What the worker thread is doing, and what it produced."""

    def __init__(self) -> None:
        self.part: Part = "subject"
        self.result: RenderedContent | None = None
        self.error: BaseException | None = None
        self.finished = False
        self.lock = threading.Lock()


def _render_part(locale: str, part: Part, source: str, variables: dict) -> str:
    template = _compiled(locale, part, source)
    _local.budget = budget = _Budget()
    try:
        chunks: list[str] = []
        size = 0
        for chunk in template.generate(variables):
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise TemplateProblem(part, f"the output is larger than {MAX_OUTPUT_CHARS // 1024} KB")
            budget.charge(len(chunk))
            chunks.append(chunk)
        return "".join(chunks)
    finally:
        _local.budget = None


# keep_style_tags keeps @media rules, which cannot be inlined; nothing is fetched.
_INLINER = css_inline.CSSInliner(keep_style_tags=True, load_remote_stylesheets=False)
_STYLE = re.compile(r"<style[\s/>](.*?)(?:</style|\Z)", re.IGNORECASE | re.DOTALL)
_ELEMENT = re.compile(r"<[A-Za-z]")


def _css_cost(html: str, css: str) -> str | None:
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


def _inline_css(html: str, strict: bool) -> str:
    css = "".join(_STYLE.findall(html))
    if not css.strip():
        return html  # nothing to inline; css-inline would only re-serialize it
    reason = _css_cost(html, css)
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


_TEXT_CONFIG = ParserConfig(display_links=True)
# inscriptis collapses no-break spaces like ordinary ones, which would let a text
# client wrap "1 234,50 €" across lines; they ride through as private-use characters.
_NO_BREAK = {"\u00a0": "\ue000", "\u202f": "\ue001"}
_NBSP_ENTITY = re.compile(r"&(?:nbsp|#0*160|#[xX]0*[aA]0);")
_NNBSP_ENTITY = re.compile(r"&(?:#0*8239|#[xX]0*202[fF]);")


def _html_to_text(html: str) -> str:
    html = _NNBSP_ENTITY.sub("\u202f", _NBSP_ENTITY.sub("\u00a0", html))
    for char, stand_in in _NO_BREAK.items():
        html = html.replace(char, stand_in)
    text = get_text(html, _TEXT_CONFIG)
    for char, stand_in in _NO_BREAK.items():
        text = text.replace(stand_in, char)
    return text


def _tidy_text(text: str) -> str:
    lines = [line.rstrip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def _render_all(
    kind: EmailKind,
    template: CustomTemplate,
    ctx: EmailContext,
    locale: str,
    attachments: Sequence[str],
    strict: bool,
    progress: _Progress,
) -> RenderedContent:
    variables = _template_vars(kind, ctx, locale, attachments)
    progress.part = "subject"
    subject = one_line(_render_part(locale, "subject", template.subject, variables))
    if not subject:
        raise TemplateProblem("subject", "the subject is empty")
    variables["subject"] = subject
    progress.part = "html"
    raw_html = _render_part(locale, "html", template.html, variables)
    html = _inline_css(raw_html, strict)
    if template.text is None:
        text = _html_to_text(raw_html)
    else:
        progress.part = "text"
        text = _render_part(locale, "text", template.text, variables)
    return RenderedContent(subject=subject, html=html, text=_tidy_text(text))


def _raise_in_thread(thread: threading.Thread) -> None:
    ident = thread.ident
    if ident is None:
        return
    changed = ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(_RenderTimeout))
    if changed > 1:  # cannot happen for one ident; CPython's docs say to undo it if it does
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), None)


def _run_with_deadline(work: Callable[[_Progress], RenderedContent]) -> RenderedContent:
    """Run `work` in its own thread; past RENDER_SECONDS, stop it and refuse.

    Python has no way to kill a thread, and a template loop that prints nothing
    (`{% for i in range(n) %}{% for j in range(n) %}{% endfor %}{% endfor %}`) never
    reaches a point where the render could check a clock. PyThreadState_SetAsyncExc
    makes the interpreter raise an exception in that thread at its next bytecode, which
    unwinds the render like any error. It cannot interrupt a C call that holds the GIL
    (hence the size checks that keep every C call a template can make small). A fresh
    thread per render, rather than a pool, guarantees a late exception can only land
    in the render it was meant for. A process would be stronger, and cost a spawn per
    email.
    """
    progress = _Progress()

    def target() -> None:
        try:
            try:
                result = work(progress)
                with progress.lock:
                    progress.result = result
                    progress.finished = True
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                with progress.lock:
                    progress.error = exc
                    progress.finished = True
        except _RenderTimeout:
            pass  # arrived after the render finished; nothing left to stop

    thread = threading.Thread(target=target, name="relance-custom-template", daemon=True)
    thread.start()
    thread.join(RENDER_SECONDS)
    with progress.lock:
        finished = progress.finished
        if not finished:
            _raise_in_thread(thread)
    if not finished:
        stop_by = time.monotonic() + STOP_GRACE_SECONDS
        while thread.is_alive() and time.monotonic() < stop_by:
            thread.join(0.05)
            # An asynchronous exception that lands in a weakref callback or a __del__ is
            # printed and dropped ("Exception ignored in ...") and the loop spins on: raise
            # it again until the render unwinds (never once it has finished).
            with progress.lock:
                if not progress.finished and thread.is_alive():
                    _raise_in_thread(thread)
        if thread.is_alive():
            log.error("custom template: render thread still running after being stopped")
        raise TemplateProblem(progress.part, f"render took too long (over {RENDER_SECONDS:g} s)")
    if progress.error is not None:
        problem = _problem(progress.error, progress.part)
        if problem is progress.error:
            raise problem
        raise problem from progress.error
    assert progress.result is not None
    return progress.result


def _render(
    kind: EmailKind, template: CustomTemplate, ctx: EmailContext, locale: str, attachments: Sequence[str], strict: bool
) -> RenderedContent:
    kind = EmailKind(kind)
    _check_sources(template)
    check_context(kind, ctx)
    return _run_with_deadline(lambda progress: _render_all(kind, template, ctx, locale, attachments, strict, progress))


def render_custom(
    kind: EmailKind, template: CustomTemplate, ctx: EmailContext, locale: str, *, attachments: Sequence[str] = ()
) -> RenderedContent:
    """Subject (one line), HTML (CSS inlined) and text for `kind` from an owner's
    template. Raises TemplateProblem when the template fails on this context.

    Blocks the calling thread for up to RENDER_SECONDS + STOP_GRACE_SECONDS: from async
    code, call it through `asyncio.to_thread`.
    """
    return _render(kind, template, ctx, locale, attachments, strict=False)


def validate_template(kind: EmailKind, template: CustomTemplate) -> None:
    """Refuse a template that does not compile, is too large, or fails a trial render.

    Two trial renders: a realistic context for the kind, then the same without what
    real data may lack (no customer name, no due date, no lines, no links), so
    `{{ customer.name.upper() }}` is caught at upload rather than on the first customer
    without a name.
    """
    kind = EmailKind(kind)
    _render(kind, template, sample_context(kind), "en", (), strict=True)
    try:
        _render(kind, template, _sparse_context(kind), "en", (), strict=True)
    except TemplateProblem as exc:
        raise TemplateProblem(exc.part, f"{exc.message} (trial with optional fields left empty)", exc.line) from exc


# ---- sample data -------------------------------------------------------------------


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


_SAMPLE_BRANDING = Branding(
    business_name="Northwind Studio",
    brand_color="#0f766e",
    accent_color="#2563eb",
    address_lines=["12 rue des Arts", "69001 Lyon", "France"],
    support_email="billing@northwind.example",
    support_phone="+33 4 00 00 00 00",
    support_url="https://northwind.example/help",
    footer="Northwind Studio SAS",
    legal_text="RCS Lyon 123 456 789",
)
_SAMPLE_CUSTOMER = CustomerView(
    id="cus_sample",
    name="Camille Martin",
    email="camille@example.com",
    address_lines=["8 place Bellecour", "69002 Lyon", "France"],
)
_SAMPLE_LINKS = Links(
    pay_url="https://pay.northwind.example/i/in_sample",
    update_payment_url="https://pay.northwind.example/update/cus_sample",
    confirm_payment_url="https://pay.northwind.example/confirm/in_sample",
    invoice_url="https://invoice.northwind.example/i/in_sample",
)


def _sample_invoice(kind: EmailKind) -> InvoiceView:
    paid = kind == EmailKind.receipt
    automatic = kind in (EmailKind.payment_failed, EmailKind.payment_action_required)
    return InvoiceView(
        id="in_sample",
        number="INV-2026-0042",
        currency="eur",
        amount_due=123450,
        amount_paid=123450 if paid else 0,
        amount_remaining=0 if paid else 123450,
        subtotal=102875,
        tax=20575,
        total=123450,
        created=_utc(2026, 3, 1, 8),
        due_date=_utc(2026, 3, 15, 12),
        paid_at=_utc(2026, 3, 10, 9) if paid else None,
        receipt_number="2711-4455" if paid else None,
        description="Studio subscription, March 2026",
        collection_method="charge_automatically" if automatic or paid else "send_invoice",
        status="paid" if paid else "open",
        attempt_count=1 if kind == EmailKind.payment_failed else 0,
        next_payment_attempt=_utc(2026, 3, 18, 10) if kind == EmailKind.payment_failed else None,
        lines=[
            LineItem(
                description="Studio Pro plan",
                quantity=3,
                amount=90000,
                currency="eur",
                period_start=_utc(2026, 3, 1),
                period_end=_utc(2026, 3, 31),
            ),
            LineItem(description="Extra storage (50 GB)", quantity=1, amount=12875, currency="eur"),
        ],
    )


def sample_context(kind: EmailKind) -> EmailContext:
    """A realistic context for `kind`: the parts a real email of that kind carries,
    fixed dates in March 2026 and euro amounts (1 234,50 €), for trial renders and
    previews."""
    kind = EmailKind(kind)
    ctx = EmailContext(branding=_SAMPLE_BRANDING, customer=_SAMPLE_CUSTOMER, timezone="Europe/Paris")
    links: dict[str, str | None] = {}
    if kind in (
        EmailKind.invoice_finalized,
        EmailKind.invoice_reminder,
        EmailKind.payment_failed,
        EmailKind.payment_action_required,
        EmailKind.receipt,
    ):
        ctx.invoice = _sample_invoice(kind)
        links = {"invoice_url": _SAMPLE_LINKS.invoice_url}
        if kind in (EmailKind.invoice_finalized, EmailKind.invoice_reminder):
            links["pay_url"] = _SAMPLE_LINKS.pay_url
        elif kind == EmailKind.payment_failed:
            links["update_payment_url"] = _SAMPLE_LINKS.update_payment_url
        elif kind == EmailKind.payment_action_required:
            links["confirm_payment_url"] = _SAMPLE_LINKS.confirm_payment_url
    if kind == EmailKind.invoice_reminder:
        ctx.reminder = ReminderView(days_from_due=3)
    if kind == EmailKind.card_expiring:
        ctx.card = CardView(brand="visa", last4="4242", exp_month=4, exp_year=2026)
        links = {"update_payment_url": _SAMPLE_LINKS.update_payment_url}
    if kind == EmailKind.credit_note_created:
        ctx.credit_note = CreditNoteView(
            id="cn_sample",
            invoice_id="in_sample",
            number="CN-0007",
            currency="eur",
            amount=5000,
            reason="duplicate",
            created=_utc(2026, 3, 2, 9),
            invoice_number="INV-2026-0042",
            memo="Duplicate storage line",
            lines=[LineItem(description="Extra storage (50 GB)", quantity=1, amount=5000, currency="eur")],
        )
    if kind == EmailKind.refund_issued:
        ctx.refund = RefundView(
            id="re_sample",
            invoice_id="in_sample",
            currency="eur",
            amount=4200,
            created=_utc(2026, 3, 3, 14),
            reason="requested_by_customer",
            invoice_number="INV-2026-0042",
        )
    if kind in (EmailKind.trial_ending, EmailKind.subscription_canceled):
        ending = kind == EmailKind.trial_ending
        ctx.subscription = SubscriptionView(
            id="sub_sample",
            plan_name="Studio Pro",
            trial_end=_utc(2026, 3, 20, 12) if ending else None,
            canceled_at=None if ending else _utc(2026, 3, 4, 12),
            ended_at=None if ending else _utc(2026, 3, 31, 23),
        )
        if ending:
            links = {"update_payment_url": _SAMPLE_LINKS.update_payment_url}
    ctx.links = Links(**links)
    return ctx


def _sparse_context(kind: EmailKind) -> EmailContext:
    """The sample for `kind` without what real data may lack: a customer with no name
    or address, an invoice with no due date (charged automatically), description or
    lines, no links, no branding details. Identifiers, amounts and creation dates stay:
    Stripe always has them."""
    ctx = sample_context(kind)
    update: dict[str, Any] = {
        "branding": Branding(),
        "customer": CustomerView(id=ctx.customer.id),
        "links": Links(),
    }
    if ctx.invoice is not None:
        update["invoice"] = ctx.invoice.model_copy(
            update=dict(
                due_date=None,
                paid_at=None,
                description=None,
                footer=None,
                receipt_number=None,
                next_payment_attempt=None,
                subtotal=None,
                tax=None,
                total=None,
                lines=[],
            )
        )
    if ctx.card is not None:
        update["card"] = ctx.card.model_copy(update=dict(brand=None, last4=None))
    if ctx.credit_note is not None:
        update["credit_note"] = ctx.credit_note.model_copy(
            update=dict(invoice_id=None, invoice_number=None, reason=None, memo=None, lines=[])
        )
    if ctx.refund is not None:
        update["refund"] = ctx.refund.model_copy(update=dict(invoice_id=None, invoice_number=None, reason=None))
    if ctx.subscription is not None:
        update["subscription"] = ctx.subscription.model_copy(update=dict(plan_name=None, ended_at=None))
    return ctx.model_copy(update=update)
