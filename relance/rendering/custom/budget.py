"""How much text a render part may build: the weight of a value before it is built, and
the total a part spends."""

from __future__ import annotations

import threading
from collections.abc import ItemsView, Iterator, KeysView, ValuesView
from contextlib import contextmanager
from typing import Any

from jinja2 import nodes
from jinja2.utils import Namespace
from pydantic import BaseModel

from relance.rendering.custom.limits import MAX_VALUE_CHARS, MAX_WORK_CHARS
from relance.rendering.custom.problems import LimitExceeded


class Budget:
    __slots__ = ("spent",)

    def __init__(self) -> None:
        self.spent = 0

    def charge(self, chars: int) -> None:
        self.spent += chars
        if self.spent > MAX_WORK_CHARS:
            raise LimitExceeded(f"the template builds too much text (over {MAX_WORK_CHARS // 1024 // 1024} MB)")


_local = threading.local()


def current_budget() -> Budget:
    budget: Budget | None = getattr(_local, "budget", None)
    if budget is None:
        # Only compile-time constant folding runs outside a render: refusing makes Jinja
        # leave the expression to runtime, where the budget and deadline apply.
        raise nodes.Impossible()
    return budget


@contextmanager
def metered() -> Iterator[Budget]:
    """A fresh budget for one part, charged by everything that part's render builds."""
    _local.budget = budget = Budget()
    try:
        yield budget
    finally:
        _local.budget = None


def weight(value: Any, cap: int = MAX_VALUE_CHARS) -> int:
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


def check_weight(value: Any, what: str) -> None:
    if weight(value) > MAX_VALUE_CHARS:
        raise LimitExceeded(f"{what} is too large (over {MAX_VALUE_CHARS // 1024} KB)")
