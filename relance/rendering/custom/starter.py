"""Relance's own template for a kind, in one locale, written as a custom template: what
the template editor starts from, so an owner edits the email Relance really sends.

The shipped templates (`templates/email/`) use what the sandbox refuses: `extends`,
`import` and the translation calls. Each part is rewritten into the
custom template language:

* the layout's blocks are filled in with the kind's, and the `_phrases.jinja` and
  `_macros` macros it calls are defined at the top instead of imported;
* every `_()` and `ngettext()` is replaced by the locale's sentence, its placeholders
  as expressions (a plural picks its form with the catalog's own rule, written in
  Jinja); a French or Italian sentence whose article may elide before a value goes
  through the `elide` filter, as translated sentences do;
* `|bdi` stays (the sandbox has it), and in right-to-left locales each value a sentence
  is filled with gets one too, as the shipped sentences isolate them when they render.

So the starter renders the same email as the shipped default, text for text, in the
locale it was made for (tests/rendering/test_starter.py checks every kind and locale).
"""

from __future__ import annotations

import ast
import gettext
import re
from collections.abc import Iterator
from functools import cache, lru_cache
from typing import Any

from relance.contracts.kinds import EmailKind
from relance.rendering.bidi import text_direction
from relance.rendering.custom.render import CustomTemplate
from relance.rendering.email import EMAIL_TEMPLATES_DIR
from relance.rendering.i18n import get_translations

_IMPORT = re.compile(r"\{%-?\s*(?:import|from)\s.*?%\}\n?")
_EXTENDS = re.compile(r"\{%-?\s*extends\s+\"([^\"]+)\"\s*-?%\}\n?")
_BLOCK = re.compile(r"\{%-?\s*block\s+(\w+)\s*-?%\}\n?(.*?)\{%-?\s*endblock\s*-?%\}\n?", re.DOTALL)
_MACRO = re.compile(r"\{%-?\s*macro\s+(\w+)\(.*?\{%-?\s*endmacro\s*-?%\}\n?", re.DOTALL)
_COMMENT = re.compile(r"(\s*)\{#(-?).*?(-?)#\}(\s*)", re.DOTALL)
_IMPORTED_CALL = re.compile(r"(?<![\w.])[pm]\.(\w+)\(")
_GETTEXT_CALL = re.compile(r"(?<![\w.])(_|ngettext)\(")
_OUTPUT = re.compile(r"\{\{(-?)(.*?)(-?)\}\}", re.DOTALL)
_STATEMENT = re.compile(r"\{%(.*?)%\}", re.DOTALL)
_PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|%%")
_KWARG = re.compile(r"\s*(\w+)\s*=(?!=)(.*)", re.DOTALL)
_PLURAL_RULE = re.compile(r"plural\s*=\s*(.*?)\s*;?\s*$", re.DOTALL)
# The eliding words of relance.rendering.grammar, at the end of the text before a value.
_ELIDES_BEFORE_VALUE = {
    "fr": re.compile(r"(?<![\w’'\-])(de|que|le|la|ne|je|me|te|se|jusque|lorsque|puisque)[ \u00a0]$", re.IGNORECASE),
    "it": re.compile(r"(?<![\w’'\-])il[ \u00a0]$", re.IGNORECASE),
}


def _read(name: str) -> str:
    return (EMAIL_TEMPLATES_DIR / name).read_text(encoding="utf-8")


def _drop_comments(source: str) -> str:
    """Comments out, with the whitespace their `-` markers strip stripped too."""

    def replace(match: re.Match[str]) -> str:
        before, left, right, after = match.groups()
        return ("" if left else before) + ("" if right else after)

    return _COMMENT.sub(replace, source)


def _fill_layout(source: str) -> str:
    """The kind's template with its layout around it and the layout's blocks filled in."""
    extends = _EXTENDS.search(source)
    if extends is None:
        return source
    blocks: dict[str, str] = dict(_BLOCK.findall(source))
    layout = _drop_comments(_read(extends.group(1)))
    return _BLOCK.sub(lambda m: blocks.get(m.group(1), m.group(2)), layout)


def _macros_used(body: str, library: dict[str, str]) -> list[str]:
    """The library's macros `body` calls, and those they call, in the library's order."""
    used: set[str] = set()
    pending = [body]
    while pending:
        text = pending.pop()
        for name in library:
            if name not in used and re.search(rf"(?<![\w.]){name}\(", text):
                used.add(name)
                pending.append(library[name])
    return [library[name] for name in library if name in used]


def _code_chars(text: str, start: int = 0) -> Iterator[tuple[int, str, int]]:
    """(index, character, bracket depth after it) of Jinja code, string literals skipped."""
    depth, quote, i = 0, "", start
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        else:
            depth += 1 if ch in "([{" else -1 if ch in ")]}" else 0
            yield i, ch, depth
        i += 1


def _split_args(text: str) -> list[str]:
    """A call's arguments, split on its top-level commas."""
    args, start = [], 0
    for i, ch, depth in _code_chars(text):
        if ch == "," and depth == 0:
            args.append(text[start:i])
            start = i + 1
    args.append(text[start:])
    return [a for a in args if a.strip()]


def _call_end(text: str, open_paren: int) -> int:
    """The index just past the parenthesis closing the one at `open_paren`."""
    for i, ch, depth in _code_chars(text, open_paren):
        if ch in ")]}" and depth == 0:
            return i + 1
    raise ValueError(f"unbalanced call in {text[open_paren : open_paren + 80]!r}")


def _literal(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@cache
def _plural_rule(catalog_header: str) -> str:
    """The catalog's C plural rule as a Jinja expression of `n` (Python's own translation of it)."""
    found = _PLURAL_RULE.search(catalog_header)
    rule = found.group(1) if found else "n != 1"
    expression: str = gettext._parse(gettext._tokenize(rule))[0]  # type: ignore[attr-defined]
    return expression


class _Sentences:
    """The locale's sentences, as the translation calls of the shipped templates get them."""

    def __init__(self, locale: str) -> None:
        self.locale = locale
        self.language = locale.replace("-", "_").split("_")[0].lower()
        self.translations = get_translations(locale)
        self.rtl = text_direction(locale) == "rtl"

    def singular(self, msgid: str) -> str:
        return self.translations.gettext(msgid)

    def plural(self, singular: str, plural: str) -> tuple[list[str], str]:
        """Every plural form of the sentence and the rule choosing one (an expression of n)."""
        layer: Any = self.translations
        while layer is not None:
            catalog = getattr(layer, "_catalog", None)
            if catalog is not None and (singular, 0) in catalog:
                forms: list[str] = []
                while (singular, len(forms)) in catalog:
                    forms.append(catalog[(singular, len(forms))])
                header = getattr(layer, "_info", {}).get("plural-forms", "")
                return forms, _plural_rule(header)
            layer = getattr(layer, "_fallback", None)
        return [singular, plural], "n != 1"

    def elides(self, text_before_value: str) -> bool:
        pattern = _ELIDES_BEFORE_VALUE.get(self.language)
        return bool(pattern and pattern.search(text_before_value))


def _pieces(sentence: str, values: dict[str, str]) -> list[tuple[bool, str]]:
    """(is_expression, text) pieces of a translated sentence with its placeholders filled."""
    pieces: list[tuple[bool, str]] = []
    last = 0
    for match in _PLACEHOLDER.finditer(sentence):
        literal = sentence[last : match.start()]
        if match.group(0) == "%%":
            literal += "%"
        elif match.group(1) not in values:
            raise ValueError(f"{sentence!r} has a placeholder the template does not fill: {match.group(0)}")
        pieces.append((False, literal))
        if match.group(0) != "%%":
            pieces.append((True, values[match.group(1)]))
        last = match.end()
    if "%" in sentence[last:]:
        raise ValueError(f"{sentence!r} has a '%' that is not a placeholder")
    pieces.append((False, sentence[last:]))
    return [(is_expr, text) for is_expr, text in pieces if is_expr or text]


class _Rewriter:
    def __init__(self, sentences: _Sentences) -> None:
        self.s = sentences

    def _needs_elision(self, pieces: list[tuple[bool, str]]) -> bool:
        return any(
            is_expr and i and not pieces[i - 1][0] and self.s.elides(pieces[i - 1][1])
            for i, (is_expr, _) in enumerate(pieces)
        )

    def _expression(self, pieces: list[tuple[bool, str]]) -> str:
        joined = " ~ ".join(f"({text.strip()})" if is_expr else _literal(text) for is_expr, text in pieces) or '""'
        if self._needs_elision(pieces):
            return f"(({joined})|elide)"
        return f"({joined})" if len(pieces) > 1 else joined

    def _call(self, name: str, args: list[str]) -> tuple[list[list[tuple[bool, str]]], str | None]:
        """The sentence's pieces (one list per plural form) and the expression choosing
        the form (None for a sentence with no plural)."""
        positional = [a for a in args if not _KWARG.fullmatch(a)]
        values = {}
        for a in args:
            if kwarg := _KWARG.fullmatch(a):
                value = self.expression(kwarg.group(2))
                # The shipped sentence isolates its text values at render time
                # (install_sentence_isolation); the starter says so where it fills them.
                values[kwarg.group(1)] = f"({value.strip()})|bdi" if self.s.rtl else value
        if name == "_":
            [msgid] = positional
            return [_pieces(self.s.singular(ast.literal_eval(msgid.strip())), values)], None
        singular, plural, count = positional
        count = f"({self.expression(count).strip()})"
        values.setdefault("num", count)
        forms, rule = self.s.plural(ast.literal_eval(singular.strip()), ast.literal_eval(plural.strip()))
        chooser = None if len(forms) == 1 else re.sub(r"\bn\b", lambda _: count, rule)
        return [_pieces(form, values) for form in forms], chooser

    def _replace(self, name: str, args: list[str]) -> str:
        forms, chooser = self._call(name, args)
        if chooser is None:
            return self._expression(forms[0])
        return f"[{', '.join(self._expression(f) for f in forms)}][{chooser}]"

    def expression(self, text: str) -> str:
        """`text` (Jinja expression code) with every translation call replaced."""
        out, pos = [], 0
        while match := _GETTEXT_CALL.search(text, pos):
            end = _call_end(text, match.end() - 1)
            out.append(text[pos : match.start()])
            out.append(self._replace(match.group(1), _split_args(text[match.end() : end - 1])))
            pos = end
        out.append(text[pos:])
        return "".join(out)

    def output(self, match: re.Match[str]) -> str:
        """A `{{ ... }}` tag. One that only prints a sentence with no plural becomes the
        sentence itself, its values as `{{ }}` tags, which reads best in an editor."""
        left, content, right = match.groups()
        call = _GETTEXT_CALL.match(content.strip())
        if call and call.group(1) == "_" and not left and not right:
            inner = content.strip()
            end = _call_end(inner, call.end() - 1)
            if end == len(inner):
                [pieces], _ = self._call("_", _split_args(inner[call.end() : end - 1]))
                plain = not any(tok in text for is_expr, text in pieces if not is_expr for tok in ("{{", "{%", "{#"))
                if plain and not self._needs_elision(pieces):
                    return "".join("{{ " + text.strip() + " }}" if is_expr else text for is_expr, text in pieces)
        return "{{" + left + self.expression(content) + right + "}}"

    def statement(self, match: re.Match[str]) -> str:
        return "{%" + self.expression(match.group(1)) + "%}"


def _rewrite(source: str, macros_file: str | None, sentences: _Sentences) -> str:
    body = _IMPORTED_CALL.sub(r"\1(", _IMPORT.sub("", _fill_layout(_drop_comments(source))))
    library: dict[str, str] = {}
    for name in ("_phrases.jinja", *((macros_file,) if macros_file else ())):
        for match in _MACRO.finditer(_drop_comments(_read(name))):
            library[match.group(1)] = _IMPORTED_CALL.sub(r"\1(", match.group(0)).rstrip("\n") + "\n"
    text = "".join(_macros_used(body, library)) + body
    rewriter = _Rewriter(sentences)
    text = _STATEMENT.sub(rewriter.statement, text)
    return _OUTPUT.sub(rewriter.output, text)


def default_template(kind: EmailKind, locale: str) -> CustomTemplate:
    """Relance's own subject, HTML and text for `kind` in `locale`, as a custom template."""
    subject, html, text = _default_parts(EmailKind(kind), locale)
    return CustomTemplate(subject=subject, html=html, text=text)


@lru_cache(maxsize=64)
def _default_parts(kind: EmailKind, locale: str) -> tuple[str, str, str]:
    sentences = _Sentences(locale)

    def part(name: str, macros: str | None) -> str:
        return _rewrite(_read(name), macros, sentences)

    # One line: the editor's subject field is an <input>, and the sender makes the
    # subject one line anyway (line breaks become spaces, as here).
    subject = " ".join(part(f"{kind.value}.subject.txt", None).split("\n")).strip()
    return subject, part(f"{kind.value}.html", "_macros.html"), part(f"{kind.value}.txt", "_macros.txt")
