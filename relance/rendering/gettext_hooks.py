"""A hook around every translation function of a Jinja environment (installed newstyle),
so that rules depending on the filled-in words (French elision, right-to-left isolation)
apply to every sentence, whichever of `_`, `gettext`, `ngettext`, ... printed it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jinja2 import Environment, pass_context
from jinja2.runtime import Context

# (context, the translation function, its positional arguments, its variables) -> output
Around = Callable[[Context, Callable[..., Any], tuple[Any, ...], dict[str, Any]], Any]


def wrap_translations(env: Environment, around: Around) -> None:
    wrapped: dict[str, Callable[..., Any]] = {}
    for name in ("gettext", "ngettext", "pgettext", "npgettext"):
        original = env.globals.get(name)
        if not callable(original):
            continue

        def make(inner: Callable[..., Any]) -> Callable[..., Any]:
            @pass_context
            def translated(__context: Context, *args: Any, **variables: Any) -> Any:
                return around(__context, inner, args, variables)

            return translated

        wrapped[name] = make(original)
    # `_` looks "gettext" up at call time, so it gets the wrapped one too.
    env.globals.update(wrapped)
