"""The sandboxed Jinja environment custom templates compile in: narrowed attributes, no
loader, guarded operators, calls, buffers and `~`, and the default templates' filters."""

from __future__ import annotations

import types
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from jinja2 import BaseLoader, StrictUndefined, TemplateNotFound, nodes
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.exceptions import SecurityError
from jinja2.filters import FILTERS
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup
from pydantic import BaseModel

from relance.rendering.bidi import isolation_filters
from relance.rendering.custom.attributes import FORBIDDEN_ATTRIBUTES, method_allowed
from relance.rendering.custom.budget import check_weight, current_budget, weight
from relance.rendering.custom.formats import check_printf
from relance.rendering.custom.guards import check_multiply, check_power, guard_filter, safe_range
from relance.rendering.custom.limits import MAX_VALUE_CHARS, MAX_WORK_CHARS
from relance.rendering.custom.problems import LimitExceeded
from relance.rendering.email import email_filters
from relance.rendering.grammar import elide

# The default templates' filters a custom template may use too.
SHARED_FILTERS = ("money", "date", "datetime", "month_year", "card_brand", "payment_method", "bdi", "sentences")


class _Buffer(list[str]):
    """Where macros, `{% set %}` blocks, `{% filter %}` blocks and `caller()` collect
    their output. Jinja joins it in one go at the end, so a loop writing a constant
    10,000 times into it would otherwise only be noticed as a multi-gigabyte join."""

    __slots__ = ()

    def append(self, item: Any) -> None:
        current_budget().charge(len(item))
        list.append(self, item)

    def extend(self, items: Any) -> None:
        items = tuple(items)
        current_budget().charge(sum(len(item) for item in items))
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


class Sandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+", "%"})
    code_generator_class = _GuardedCodeGenerator

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if attr in FORBIDDEN_ATTRIBUTES or not super().is_safe_attribute(obj, attr, value):
            return False
        if isinstance(obj, BaseModel):
            return attr in type(obj).model_fields
        if callable(value):
            return method_allowed(obj, attr)
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
            check_multiply(left, right)
        elif operator == "**":
            check_power(left, right)
        elif operator == "+":
            if isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
                if weight(left) + weight(right) > MAX_VALUE_CHARS:
                    raise LimitExceeded("'+' would make too large a value")
        elif operator == "%" and isinstance(left, str):
            check_printf(left)
            check_weight(right, "the values given to '%'")
        result = self.binop_table[operator](left, right)
        if isinstance(result, (str, list, tuple)):
            current_budget().charge(weight(result, MAX_WORK_CHARS))
        return result

    def call(__self, __context: Any, __obj: Any, /, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        result = super().call(__context, __obj, *args, **kwargs)
        current_budget().charge(weight(result, MAX_WORK_CHARS))
        return result

    def new_buffer(self) -> _Buffer:
        return _Buffer()

    def guarded_join(self, join: Callable[[Any], str], items: tuple[Any, ...]) -> str:
        total = 0
        for item in items:
            total += weight(item, MAX_VALUE_CHARS - total)
            if total > MAX_VALUE_CHARS:
                raise LimitExceeded("'~' would make too large a value")
        result = join(items)
        current_budget().charge(len(result))
        return result


def _finalize(value: Any) -> Any:
    current_budget()
    check_weight(value, "a printed value")
    return value


def _keep_markup(original: Any, result: str) -> Any:
    return Markup(result) if isinstance(original, Markup) else result


@lru_cache(maxsize=32)
def sandbox_for(locale: str, html: bool) -> Sandbox:
    env = Sandbox(
        loader=_NoLoader(),
        autoescape=html,
        undefined=StrictUndefined,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
        cache_size=0,
    )
    # The default templates' locale-bound filters, so money and dates read the same, and
    # isolated the same way inside right-to-left sentences (`bdi` for names and ids).
    own = email_filters(locale)
    own.update(isolation_filters(locale, html, own))
    filters = {name: f for name, f in FILTERS.items() if not (html and name == "safe")}
    filters.update({name: own[name] for name in SHARED_FILTERS})
    # French and Italian articles before a value ("de Acme" -> "d’Acme"), as Relance's
    # own sentences get them (relance.rendering.grammar).
    filters["elide"] = lambda value: _keep_markup(value, elide(str(value), locale))
    env.filters = {name: guard_filter(name, f) for name, f in filters.items()}
    env.globals = {
        "range": safe_range,
        "dict": env.globals["dict"],
        "cycler": env.globals["cycler"],
        "joiner": env.globals["joiner"],
        "namespace": env.globals["namespace"],
    }
    return env
