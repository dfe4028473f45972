"""Grammar that depends on the words a sentence is filled with, which a catalog string
cannot know: "de la part de %(business)s" must read "de la part d’Acme SAS" but "de la part
de Bolt". Applied to each translated sentence after its placeholders are filled (see
`install`), and available to templates as the `elide` filter.

French elides de, que, le, la, ne, je, me, te, se, jusque, lorsque and puisque before a
vowel or a mute h. Whether an h is mute depends on the word, so elision before h happens
only for words known to be mute (a short list: a company name starting with H keeps
"de", which reads as careful rather than wrong), and a few vowel-initial words that take
no elision (onze, oui, yacht, ...) keep their article. Italian elides "il" before the
numbers read with a vowel (l’8 maggio, l’11 aprile).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from jinja2 import Environment
from jinja2.runtime import Context
from markupsafe import Markup

from relance.rendering.gettext_hooks import wrap_translations

APOSTROPHE = "\u2019"

# Words starting with a mute h (and their derivatives, matched by prefix).
FRENCH_MUTE_H = (
    "habil",
    "habit",
    "harmoni",
    "hebdo",
    "hélic",
    "herb",
    "héritage",
    "heure",
    "heureu",
    "hier",
    "histoire",
    "histori",
    "hiver",
    "homme",
    "hommage",
    "honnête",
    "honneur",
    "honor",
    "hôpital",
    "horaire",
    "horizon",
    "horloge",
    "hospital",
    "hôte",
    "hôtel",
    "huile",
    "huître",  # "huit" itself is aspirated
    "humain",
    "humani",
    "humeur",
    "humour",
    "hygiène",
    "hypoth",
)
# Vowel-initial words read as if aspirated: no elision before them.
FRENCH_NO_ELISION = ("onze", "onzième", "oui", "ouistiti", "ouate", "yacht", "yaourt", "yoga", "ukulélé")

_FR_VOWELS = "aeiouàâäæéèêëîïôöœùûüAEIOUÀÂÄÆÉÈÊËÎÏÔÖŒÙÛÜ"
_FR_ELIDING = r"de|que|le|la|ne|je|me|te|se|jusque|lorsque|puisque"
# An eliding word (not inside another word), its space (plain or no-break), then the next word.
_FR_ELISION = re.compile(
    rf"(?<![\w’'\-])({_FR_ELIDING})[ \u00a0](?=([\w’'&.\-]+))",
    re.IGNORECASE,
)
_IT_ELISION = re.compile(r"(?<![\w’'\-])(il)[ \u00a0](?=(8|11|80|8\d|800|8\d\d)\b)", re.IGNORECASE)


def _french_elides_before(word: str) -> bool:
    lowered = word.lower()
    if lowered.startswith(FRENCH_NO_ELISION):
        return False
    if lowered[0] in "hH":
        return lowered.startswith(FRENCH_MUTE_H)
    return word[0] in _FR_VOWELS


def _elide_match(match: re.Match[str]) -> str:
    article, following = match.group(1), match.group(2)
    if not _french_elides_before(following):
        return match.group(0)
    return article[:-1] + APOSTROPHE


def _italian_match(match: re.Match[str]) -> str:
    return ("L" if match.group(1)[0] == "I" else "l") + APOSTROPHE


def elide(text: str, locale: str) -> str:
    """`text` with the elisions `locale` requires: ("de Acme SAS", "fr") -> "d’Acme SAS"."""
    language = locale.replace("-", "_").split("_")[0].lower()
    if language == "fr":
        return _FR_ELISION.sub(_elide_match, text)
    if language == "it":
        return _IT_ELISION.sub(_italian_match, text)
    return text


def _keep_markup(original: Any, result: str) -> Any:
    # Elision only removes a letter and adds an apostrophe: escaped HTML stays escaped.
    return Markup(result) if isinstance(original, Markup) else result


def install(env: Environment, locale: str) -> None:
    """Run `elide` on every translated sentence of `env` (after `install_gettext_translations`,
    newstyle) and register the `elide` filter for templates that build sentences themselves."""

    def around(context: Context, inner: Callable[..., Any], args: tuple[Any, ...], variables: dict[str, Any]) -> Any:
        out = inner(context, *args, **variables)
        return _keep_markup(out, elide(str(out), locale))

    wrap_translations(env, around)

    def elide_filter(value: Any) -> Any:
        return _keep_markup(value, elide(str(value), locale))

    env.filters["elide"] = elide_filter
