"""Which attributes and methods a template may reach, by receiver."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from jinja2.runtime import LoopContext, TemplateReference
from jinja2.utils import Cycler
from markupsafe import Markup

# Refused whatever the object: the classic walks from a value to Python's internals.
# Most start with "_" (the sandbox refuses those already) or do not exist in Python 3;
# naming them keeps the intent visible and survives a future relaxation upstream.
FORBIDDEN_ATTRIBUTES = frozenset(
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


def method_allowed(obj: Any, attr: str) -> bool:
    if isinstance(obj, TemplateReference):
        return True  # self.<block>() renders one of the template's own blocks
    if isinstance(obj, type):
        return False  # dict.fromkeys, cycler.reset...: classes are not receivers
    return any(isinstance(obj, types_) and attr in names for types_, names in _ALLOWED_METHODS)
