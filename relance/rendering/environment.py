"""The Jinja environment emails and PDFs render in: Relance's templates, the locale's
translations, and the money and date filters bound to that locale.

Each renderer asks for its own (template folder, autoescape, extra filters) and keeps
it for the process; the filters are shared with the custom templates' sandbox so money
and dates read the same whichever template printed them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

from jinja2 import (
    BytecodeCache,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    pass_context,
    pass_eval_context,
    select_autoescape,
)
from jinja2.bccache import Bucket
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from markupsafe import Markup

from relance.rendering import grammar
from relance.rendering.bidi import install_sentence_isolation
from relance.rendering.formatting import format_date, format_datetime, format_money
from relance.rendering.i18n import get_translations

Filter = Callable[..., Any]

# Languages whose sentences follow each other without a space (after "。").
_NO_SENTENCE_SPACE = frozenset({"ja", "zh", "yue"})


def locale_filters(locale: str) -> dict[str, Filter]:
    """`money`, `date` and `datetime` in `locale`. Dates are shown in the customer's zone,
    which each render puts in its context as `timezone`."""

    def money(amount: int | None, currency: str) -> str:
        return "" if amount is None else format_money(amount, currency, locale)

    @pass_context
    def date_filter(context: Context, value: datetime | date | None, fmt: str = "long") -> str:
        return format_date(value, locale, context["timezone"], fmt)

    @pass_context
    def datetime_filter(context: Context, value: datetime | None, fmt: str = "medium") -> str:
        return format_datetime(value, locale, context["timezone"], fmt)

    gap = "" if locale.replace("-", "_").split("_")[0] in _NO_SENTENCE_SPACE else " "

    @pass_eval_context
    def sentences(eval_ctx: EvalContext, parts: Iterable[str]) -> str:
        """Sentences in one paragraph, joined as the language writes them."""
        kept = [part for part in parts if part]
        # Markup's join would escape a text part's plain strings.
        return Markup(gap).join(kept) if eval_ctx.autoescape else gap.join(kept)

    return {"money": money, "date": date_filter, "datetime": datetime_filter, "sentences": sentences}


class _SharedBytecode(BytecodeCache):
    """Compiled templates shared by the environments of every locale. A locale changes
    only what the compiled code looks up when it runs (the translations and filters in
    the environment's globals and filters), never the code, so each template compiles
    once per process instead of once per locale (44 of them: 16 s at a worker's start)."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        if (code := self._code.get(bucket.key)) is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


# How an environment escapes: everything (HTML emails, PDFs), or only templates named
# *.html (subjects and text parts, where an .html template loaded by mistake still escapes).
Escaping = Literal["all", "html-files"]
_AUTOESCAPE: dict[Escaping, bool | Callable[[str | None], bool]] = {
    "all": True,
    "html-files": select_autoescape(enabled_extensions=("html",), default=False),
}

# One cache per kind of environment: the folder and the escaping change the code (an
# autoescaped template compiles to other code than a plain one).
_BYTECODE: dict[tuple[str, Escaping], _SharedBytecode] = {}


def build_environment(
    locale: str,
    folder: Path,
    *,
    escaping: Escaping,
    filters: Mapping[str, Filter] | None = None,
) -> Environment:
    """An environment over the templates in `folder`, translated into `locale`, with
    `locale_filters(locale)` and `filters` (which may replace them)."""
    env = Environment(
        loader=FileSystemLoader(folder),
        autoescape=_AUTOESCAPE[escaping],
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        auto_reload=False,
        bytecode_cache=_BYTECODE.setdefault((str(folder), escaping), _SharedBytecode()),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.policies["ext.i18n.trimmed"] = True
    # "fr-BE" reads the "fr" catalog but keeps its own number and date conventions.
    env.install_gettext_translations(  # type: ignore[attr-defined]  # added by jinja2.ext.i18n
        get_translations(locale), newstyle=True
    )
    grammar.install(env, locale)  # elision after placeholders are filled ("d’Acme SAS")
    install_sentence_isolation(env, locale)  # names inside right-to-left sentences
    env.filters.update(locale_filters(locale))
    env.filters.update(filters or {})
    return env
