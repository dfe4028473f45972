"""Owners' custom email templates: real renders in the real sandbox.

No Temporal, no database. Refusals are asserted on the TemplateProblem (part, line,
message), never on timings; a hang guard ends the run if a limit ever stops working.
"""

from __future__ import annotations

import faulthandler
import html as htmllib
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from relance.contracts.email_context import CustomerView, Links
from relance.contracts.kinds import EmailKind
from relance.rendering.custom import (
    MAX_SOURCE_BYTES,
    CustomTemplate,
    TemplateProblem,
    render_custom,
    sample_context,
    validate_template,
)
from relance.rendering.custom.sandbox import sandbox_for
from relance.rendering.email import REQUIRED_CONTEXT
from relance.rendering.formatting import format_money

NNBSP, NBSP = "\u202f", "\u00a0"
INVOICE = EmailKind.invoice_finalized

INVOICE_HTML = """\
<!doctype html>
<html lang="{{ lang }}">
<head>
<style>
  .total { font-weight: bold; color: {{ brand_color }}; }
  @media (max-width: 600px) { .wrap { padding: 0; } }
</style>
</head>
<body>
<div class="wrap">
<p>Hello {{ customer.name or "there" }},</p>
<p>{{ business }} sent you invoice {{ invoice.number }}.</p>
<table>
{% for line in invoice.lines %}
  <tr><td>{{ loop.index }}. {{ line.description }}</td><td>{{ line.amount|money(line.currency) }}</td></tr>
{% endfor %}
</table>
<p class="total">Amount due: {{ invoice.amount_due|money(invoice.currency) }}</p>
{% if invoice.due_date %}<p>Due {{ invoice.due_date|date }}</p>{% endif %}
{% if links.pay_url %}<p><a href="{{ links.pay_url }}">Pay invoice</a></p>{% endif %}
</div>
</body>
</html>
"""

INVOICE_TEMPLATE = CustomTemplate(
    subject="Invoice {{ invoice.number }} from {{ business }}: {{ invoice.amount_due|money(invoice.currency) }}",
    html=INVOICE_HTML,
)


@pytest.fixture(autouse=True)
def hang_guard() -> Iterator[None]:
    # Generous: every render is stopped after ~3 s. If a limit regresses, this dumps
    # the stacks and ends the run instead of hanging CI.
    faulthandler.dump_traceback_later(120, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def problem(
    html: str, *, kind: EmailKind = INVOICE, subject: str = "Hello", text: str | None = None
) -> TemplateProblem:
    with pytest.raises(TemplateProblem) as info:
        validate_template(kind, CustomTemplate(subject=subject, html=html, text=text))
    return info.value


def render_html(html: str, kind: EmailKind = INVOICE, locale: str = "en") -> str:
    template = CustomTemplate(subject="Hello", html=html)
    validate_template(kind, template)
    return render_custom(kind, template, sample_context(kind), locale).html


def visible(html: str) -> str:
    return htmllib.unescape(re.sub(r"<[^>]+>", " ", html))


# ---- rendering ---------------------------------------------------------------------


def test_custom_invoice_email_renders_in_french_with_babel_amounts() -> None:
    validate_template(INVOICE, INVOICE_TEMPLATE)
    ctx = sample_context(INVOICE)
    out = render_custom(INVOICE, INVOICE_TEMPLATE, ctx, "fr")

    amount = f"1{NNBSP}234,50{NBSP}€"
    assert amount == format_money(123450, "eur", "fr")
    assert out.subject == f"Invoice INV-2026-0042 from Northwind Studio: {amount}"
    page = visible(out.html)
    assert f"Amount due: {amount}" in page
    assert "1. Studio Pro plan" in page and f"900,00{NBSP}€" in page
    assert "Due 15 mars 2026" in page
    assert 'href="https://pay.northwind.example/i/in_sample"' in out.html
    # CSS inlined onto the element, and the <style> block kept for @media.
    assert re.search(r'<p class="total" style="[^"]*font-weight: bold', out.html)
    assert "@media (max-width: 600px)" in out.html
    assert f"Amount due: {amount}" in out.text


def test_same_template_in_english() -> None:
    out = render_custom(INVOICE, INVOICE_TEMPLATE, sample_context(INVOICE), "en")
    assert "Amount due: €1,234.50" in visible(out.html)
    assert "Due March 15, 2026" in visible(out.html)


def test_text_part_is_derived_from_the_html_when_missing() -> None:
    out = render_custom(INVOICE, INVOICE_TEMPLATE, sample_context(INVOICE), "en")
    assert "Hello Camille Martin," in out.text
    assert "Amount due: €1,234.50" in out.text
    assert "https://pay.northwind.example/i/in_sample" in out.text  # links spelled out
    assert "<" not in out.text and "font-weight" not in out.text and "@media" not in out.text
    assert out.text.endswith("\n") and "\n\n\n" not in out.text


def test_explicit_text_part_is_plain_text() -> None:
    template = INVOICE_TEMPLATE.model_copy(
        update={
            "text": (
                "Hello {{ customer.name }},\n\n\n\n"
                "Pay {{ invoice.amount_due|money(invoice.currency) }} at {{ links.pay_url }}   \n"
            )
        }
    )
    ctx = sample_context(INVOICE).model_copy(update={"customer": CustomerView(id="cus_1", name="Tom & <Jerry>")})
    out = render_custom(INVOICE, template, ctx, "en")
    assert out.text == "Hello Tom & <Jerry>,\n\nPay €1,234.50 at https://pay.northwind.example/i/in_sample\n"
    assert "Tom &amp; &lt;Jerry&gt;" in out.html


def test_customer_text_is_escaped_in_html() -> None:
    ctx = sample_context(INVOICE).model_copy(
        update={
            "customer": CustomerView(id="cus_1", name="<script>alert(1)</script>"),
        }
    )
    template = CustomTemplate(
        subject="For {{ customer.name }}", html="<p>{{ customer.name }}</p><a title='{{ customer.name }}'>x</a>"
    )
    out = render_custom(INVOICE, template, ctx, "en")
    assert "<script>" not in out.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out.html
    assert out.subject == "For <script>alert(1)</script>"  # a header, not HTML


def test_unsafe_links_never_reach_the_template() -> None:
    ctx = sample_context(INVOICE).model_copy(update={"links": Links(pay_url="javascript:alert(1)")})
    template = CustomTemplate(subject="s", html='<a href="{{ links.pay_url }}">Pay</a>')
    out = render_custom(INVOICE, template, ctx, "en")
    assert "javascript" not in out.html
    assert 'href="None"' in out.html


def test_subject_is_one_line() -> None:
    template = CustomTemplate(
        subject="Invoice\r\n{{ invoice.number }}\nBcc: x@evil.example =?utf-8?q?x?=", html="<p>x</p>"
    )
    out = render_custom(INVOICE, template, sample_context(INVOICE), "en")
    assert out.subject == "Invoice INV-2026-0042 Bcc: x@evil.example = ?utf-8?q?x?="


@pytest.mark.parametrize("subject", ["", "   ", "{% if false %}x{% endif %}", "{{ '\\n\\r' }}"])
def test_an_empty_subject_is_refused(subject: str) -> None:
    found = problem("<p>x</p>", subject=subject)
    assert found.part == "subject"
    assert "empty" in found.message


def test_ordinary_jinja_features_still_work() -> None:
    html = """\
{% macro row(label, value) %}<tr><td>{{ label }}</td><td>{{ value }}{{ caller() }}</td></tr>{% endmacro %}
<table>
{% for line in invoice.lines %}
{% call row(line.description|upper, line.amount|money(line.currency)) %} ({{ loop.cycle("odd", "even") }}){% endcall %}
{% endfor %}
</table>
{% set ns = namespace(total=0) %}{% for line in invoice.lines %}{% set ns.total = ns.total + line.amount %}{% endfor %}
<p>{{ ns.total|money("eur") }} / {{ invoice.lines|sum(attribute="amount") }} / {{ invoice.lines|length }} lines</p>
<p>{{ invoice.lines|map(attribute="description")|join(", ") }}</p>
<p>{{ "%s: %05.1f"|format("rate", 7.25) }} {{ "%d%%" % 20 }} {{ (customer.name or "").split(" ")|first }}</p>
<p>{{ invoice.due_date|date("short") }} {{ "visa"|card_brand }} {{ 4|month_year(2026) }}</p>
<p>{{ {"b": 2, "a": 1}|dictsort|map("first")|join }} {{ range(3)|list }} {{ invoice.created.year }}</p>
{% block footer %}<p>{{ business|truncate(9, true, "") }}</p>{% endblock %}
"""
    page = visible(render_html(html))
    assert "STUDIO PRO PLAN" in page and "€900.00 (odd)" in page and "€128.75 (even)" in page
    assert "€1,028.75 / 102875 / 2 lines" in page
    assert "Studio Pro plan, Extra storage (50 GB)" in page
    assert "rate: 007.2 20% Camille" in page
    assert "3/15/26" in page and "Visa April 2026" in page
    assert "ab [0, 1, 2] 2026" in page
    assert "Northwind" in page


# ---- errors with their part and line -----------------------------------------------


def test_problem_names_the_part_and_line() -> None:
    found = TemplateProblem("html", "unexpected '}'", 3)
    assert str(found) == "html, line 3: unexpected '}'"
    assert str(TemplateProblem("subject", "the subject is empty")) == "subject: the subject is empty"
    assert isinstance(found, ValueError)


def test_syntax_error_reports_the_right_line() -> None:
    found = problem("<p>one</p>\n<p>two</p>\n<p>{{ customer.name }</p>\n<p>four</p>")
    assert (found.part, found.line) == ("html", 3)
    assert str(found) == "html, line 3: unexpected '}'"


@pytest.mark.parametrize("part", ["subject", "text"])
def test_syntax_errors_in_other_parts(part: str) -> None:
    fields = {"subject": "Hi", "html": "<p>x</p>", "text": "fine"}
    fields[part] = "line one\n{% if x %}\nno endif"
    with pytest.raises(TemplateProblem) as info:
        validate_template(INVOICE, CustomTemplate(**fields))
    assert info.value.part == part
    assert info.value.line == 3


def test_unknown_filter_is_reported_with_its_line() -> None:
    found = problem("<p>x</p>\n{{ invoice.amount_due|euros }}")
    assert (found.part, found.line) == ("html", 2)
    assert "euros" in found.message


def test_undefined_variable_is_caught_at_validation() -> None:
    found = problem("<p>Hello</p>\n\n<p>{{ customer.nickname }}</p>")
    assert (found.part, found.line) == ("html", 3)
    assert "nickname" in found.message

    found = problem("<p>x</p>", subject="Invoice {{ invoice_number }}")
    assert (found.part, found.line) == ("subject", 1)
    assert "invoice_number" in found.message


def test_a_variable_another_kind_has_is_caught() -> None:
    found = problem("<p>Card ending {{ card.last4 }}</p>")  # an invoice email has no card
    assert found.part == "html" and found.line == 1
    assert "last4" in found.message


def test_missing_optional_data_is_caught_at_validation() -> None:
    """Passes on the realistic sample, fails for a customer without a name."""
    template = CustomTemplate(subject="s", html="<p>\n{{ customer.name.upper() }}</p>")
    render_custom(INVOICE, template, sample_context(INVOICE), "en")
    with pytest.raises(TemplateProblem) as info:
        validate_template(INVOICE, template)
    assert (info.value.part, info.value.line) == ("html", 2)
    assert "optional fields left empty" in info.value.message


def test_errors_at_send_time_are_template_problems() -> None:
    template = CustomTemplate(subject="s", html="{{ invoice.lines[5].description }}")
    with pytest.raises(TemplateProblem) as info:
        render_custom(INVOICE, template, sample_context(INVOICE), "en")
    assert info.value.part == "html" and info.value.line == 1


def test_oversized_sources_are_refused() -> None:
    big = "<p>x</p>" * (MAX_SOURCE_BYTES // 8 + 1)
    found = problem(big)
    assert found.part == "html" and "larger than 100 KB" in found.message
    found = problem("<p>x</p>", text="é" * (MAX_SOURCE_BYTES // 2 + 1))  # bytes, not characters
    assert found.part == "text"


# ---- no other templates, no unescaped HTML -----------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        '{% include "invoice_finalized.html" %}',
        "{% include customer.name %}",
        '{% import "_macros.html" as m %}',
        '{% from "_phrases.jinja" import invoice_ref %}',
        '{% extends "_layout.html" %}',
        '{% include ["a", "b"] ignore missing %}',
    ],
)
def test_include_import_and_extends_are_refused(source: str) -> None:
    found = problem("<p>x</p>\n" + source)
    assert (found.part, found.line) == ("html", 2)
    assert "not available" in found.message


def test_no_loader_even_if_the_tags_slipped_through() -> None:
    env = sandbox_for("en", True)
    with pytest.raises(Exception, match="cannot include, import or extend"):
        env.get_template("invoice_finalized.html")


@pytest.mark.parametrize(
    "source",
    [
        "{{ customer.name|safe }}",
        "{% filter safe %}{{ customer.name }}{% endfilter %}",
        "{% autoescape false %}{{ customer.name }}{% endautoescape %}",
    ],
)
def test_escaping_cannot_be_turned_off_in_html(source: str) -> None:
    found = problem(source)
    assert found.part == "html" and found.line == 1


# ---- sandbox escapes ---------------------------------------------------------------

ESCAPES = {
    "class": "{{ ''.__class__ }}",
    "mro-subclasses": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "mro-method": "{{ ().__class__.mro() }}",
    "model-globals": "{{ customer.__class__.__init__.__globals__ }}",
    "cycler-globals": "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "joiner-globals": "{{ joiner.__init__.__globals__ }}",
    "namespace-globals": "{{ namespace.__init__.__globals__ }}",
    "range-self": "{{ range.__self__.__import__('os') }}",
    "builtins": "{{ range.__builtins__ }}",
    "self-context": "{{ self._TemplateReference__context }}",
    "self-init": "{{ self.__init__.__globals__ }}",
    "lipsum-globals": "{{ lipsum.__globals__['os'] }}",
    "func_globals": "{{ cycler.next.func_globals }}",
    "gi_frame": "{{ (invoice.lines|map(attribute='amount')).gi_frame.f_globals }}",
    "cr_frame": "{{ (invoice.lines|map(attribute='amount')).cr_frame }}",
    "getitem-class": "{{ customer['__class__'] }}",
    "attr-filter-class": "{{ customer|attr('__class__') }}",
    "attr-filter-globals": "{{ (cycler|attr('__init__'))|attr('__globals__') }}",
    "map-attribute-class": "{{ [customer]|map(attribute='__class__')|first }}",
    "format-class": "{{ '{0.__class__}'.format(customer) }}",
    "format-globals": "{{ '{0.__class__.__init__.__globals__}'.format(customer) }}",
    "format-map": "{{ '{a.__class__}'.format_map({'a': customer}) }}",
    "markup-format": "{{ ('{0.__class__}'|escape).format(customer) }}",
    "getitem-format": "{{ '{0.__class__}'['format'](customer) }}",
    # CVE-2024-56326: str.format reached indirectly, through a stored reference.
    "cve-2024-56326-set": "{% set f = '{0.__class__.__init__.__globals__}'.format %}{{ f(customer) }}",
    "cve-2024-56326-namespace": "{% set ns = namespace(f='{0.__class__}'.format) %}{{ ns.f(customer) }}",
    "cve-2024-56326-macro": "{% macro m(f) %}{{ f(customer) }}{% endmacro %}{{ m('{0.__class__}'.format) }}",
    "cve-2024-56326-map": "{{ (['{0.__class__}']|map(attribute='format')|first)(customer) }}",
    "cve-2024-56326-dict": "{% set d = dict(f='{0.__class__}'.format) %}{{ d.f(customer) }}",
    # CVE-2025-27516 (Jinja2 < 3.1.6): str.format reached through the |attr filter.
    "cve-2025-27516": "{{ ('{0.__class__}'|attr('format'))(customer) }}",
    "cve-2025-27516-globals": "{{ ('{0.__init__.__globals__}'|attr('format'))(cycler) }}",
    "cve-2025-27516-format-map": "{{ ('{a.__class__}'|attr('format_map'))({'a': customer}) }}",
    # Pydantic classmethods: parse_file reads any path.
    "pydantic-parse-file": "{{ customer.parse_file('/etc/passwd') }}",
    "pydantic-model-copy": "{{ customer.model_copy(update={'name': 'x'}) }}",
    "pydantic-fields": "{{ customer.model_fields }}",
    # Mutating shared data, and methods that return huge values.
    "list-append": "{{ invoice.lines.append(1) }}",
    "dict-update": "{% set d = {} %}{{ d.update(a=1) }}",
    "int-to-bytes": "{{ (1).to_bytes(10, 'big') }}",
    "str-ljust": "{{ 'a'.ljust(10) }}",
    "bound-method-self": "{{ customer.name.upper.__self__ }}",
    "printf-attribute": "{{ '%s'|format(customer.__class__) }}",
}


@pytest.mark.parametrize("source", list(ESCAPES.values()), ids=list(ESCAPES))
def test_sandbox_escapes_are_refused(source: str) -> None:
    found = problem("<p>x</p>\n" + source)
    assert (found.part, found.line) == ("html", 2)
    assert "<class" not in str(found) and "module" not in str(found)


@pytest.mark.parametrize("part", ["subject", "text"])
def test_escapes_are_refused_in_every_part(part: str) -> None:
    fields = {"subject": "Hi", "html": "<p>x</p>", "text": None}
    fields[part] = ESCAPES["cve-2025-27516"]
    with pytest.raises(TemplateProblem) as info:
        validate_template(INVOICE, CustomTemplate(**fields))
    assert info.value.part == part
    assert "str.format is not available" in info.value.message


@pytest.mark.parametrize(
    "source, shown",
    [
        # printf-style formatting has no attribute lookups: braces are just text.
        ("{{ '{0.__class__}'|format }}", "{0.__class__}"),
        ("{{ '{0.__class__}' % () }}", "{0.__class__}"),
        # map("attr", "format") yields refused placeholders; printed, they say nothing.
        ("{{ ['{0.__class__}']|map('attr', 'format')|list }}", "[Undefined]"),
    ],
)
def test_format_payloads_that_render_are_inert(source: str, shown: str) -> None:
    page = htmllib.unescape(render_html(source))
    assert page == shown
    assert "<class" not in page


def test_cve_2024_56201_crafted_names_cannot_run_code(tmp_path: Path) -> None:
    """CVE-2024-56201 needed control of a template's *filename*, which Jinja put into
    generated code unescaped. Custom templates come from strings and their filenames
    are fixed by Relance ("<subject>", "<html>", "<text>"), so the owner controls no
    filename. What the owner controls, the source, can carry the same payload as text
    or as a template name; it is printed inert or refused, and never runs."""
    marker = tmp_path / "pwned"
    payload = "{__import__('os').system('touch " + str(marker) + "')}"
    html = f'<p>{payload}</p>\n<p>{{{{ "{payload}" }}}}</p>\n<p>{{{{ "{{{{1}}}}\\x27);import os#" }}}}</p>'
    out = render_custom(INVOICE, CustomTemplate(subject=payload, html=html), sample_context(INVOICE), "en")
    assert payload in htmllib.unescape(out.html) and out.subject == payload
    for tag in ("extends", "include", "import"):
        extra = " as x" if tag == "import" else ""
        with pytest.raises(TemplateProblem):
            validate_template(INVOICE, CustomTemplate(subject="s", html=f'{{% {tag} "{payload}"{extra} %}}'))
    assert not marker.exists()


# ---- size and time -----------------------------------------------------------------

# name: (template, the refusal expected). The refusal names the check that fired:
# none of these may be left to the clock, by which time the memory would be gone.
BOMBS = {
    "str-repeat": ("{{ 'a' * 10**9 }}", "'*' would make too large a value"),
    "list-repeat": ("{{ [1] * 10**9 }}", "'*' would make too large a value"),
    # Parenthesized: Jinja's ** is left-associative, 10 ** 10 ** 9 is (10**10)**9.
    "power": ("{{ 10 ** (10 ** 9) }}", "'**' would make too large a number"),
    "power-of-power": ("{{ (10 ** 100) ** 100 }}", "'**' would make too large a number"),
    "int-squaring": (
        "{% set ns = namespace(x=10**100) %}{% for i in range(40) %}{% set ns.x = ns.x * ns.x %}{% endfor %}",
        "'*' would make too large a number",
    ),
    "concat-doubling": (
        "{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
        "'~' would make too large",
    ),
    "plus-doubling": (
        "{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
        "'+' would make too large",
    ),
    "macro-doubling": (
        "{% macro f(s, n) %}{{ f(s ~ s, n - 1) if n else s|length }}{% endmacro %}{{ f('ab', 40) }}",
        "'~' would make too large",
    ),
    "printed-list": ("{% set s = 'a' * 500000 %}{{ [s, s, s, s, s, s, s, s] }}", "printed value is too large"),
    "printed-dict-view": (
        "{% set s = 'a' * 400000 %}{% set d = {'a': s, 'b': s} %}{{ d.values() }}",
        "printed value is too large",
    ),
    "printed-namespace": ("{% set s = 'a' * 400000 %}{{ namespace(a=s, b=s) }}", "printed value is too large"),
    # Literal text written 10^8 times into a macro's or a {% set %} block's buffer.
    "macro-buffer": (
        "{% macro m() %}{% for i in range(10000) %}{% for j in range(10000) %}"
        + "x" * 100
        + "{% endfor %}{% endfor %}{% endmacro %}{{ m()|length }}",
        "builds too much text",
    ),
    "set-block-buffer": (
        "{% set x %}{% for i in range(10000) %}{% for j in range(10000) %}"
        + "x" * 100
        + "{% endfor %}{% endfor %}{% endset %}{{ x|length }}",
        "builds too much text",
    ),
    "output": (
        "{% for i in range(10000) %}{% for j in range(10000) %}x{% endfor %}{% endfor %}",
        "output is larger than 512 KB",
    ),
    "range": ("{% for i in range(10**9) %}{% endfor %}", "range() is limited"),
    "center": ("{{ 'x'|center(10**9) }}", "|center"),
    "replace": ("{{ ('a' * 400000)|replace('', 'bb') }}", "|replace"),
    "indent": ("{{ ('a\\n' * 100000)|indent(1000) }}", "|indent"),
    "wordwrap": ("{{ ('a ' * 100000)|wordwrap(1, wrapstring='x' * 100) }}", "|wordwrap"),
    "join": ("{{ range(10000)|join('x' * 1000) }}", "|join"),
    "map-center": ("{{ range(10000)|map('center', 500000)|join }}", "builds too much text"),
    "batch": ("{{ [1]|batch(10**9, 'x')|list }}", "|batch"),
    "slice": ("{{ [1]|slice(10**9)|list }}", "|slice"),
    "sum-lists": ("{% set l = [1] * 50000 %}{{ [l, l, l, l, l, l, l, l, l, l]|sum(start=[]) }}", "|sum"),
    "tojson-indent": ("{{ {'a': [1, [2]]}|tojson(indent=10**8) }}", "|tojson"),
    "printf-width": ("{{ '%999999999d'|format(1) }}", "format width"),
    "printf-width-op": ("{{ '%999999999d' % 1 }}", "format width"),
    "printf-precision": ("{{ '%.999999999f' % 1.5 }}", "format precision"),
    "printf-star": ("{{ '%*d' % (999999999, 1) }}", "'*' width"),
    "printf-nested-key": ("{{ '%(a(b))999999999s' % {'a(b)': 1} }}", "format width"),
    "date-pattern": ("{{ invoice.due_date|date('y' * 100000) }}", "date format patterns"),
}


@pytest.mark.parametrize("source, refusal", list(BOMBS.values()), ids=list(BOMBS))
def test_size_bombs_are_refused_before_they_are_built(source: str, refusal: str) -> None:
    found = problem("<p>x</p>\n" + source)
    assert found.part == "html"
    assert refusal in found.message
    assert found.line == (None if refusal.startswith("output") else 2)


def test_the_output_cap_applies_to_every_part() -> None:
    loop = "{% for i in range(10000) %}{% for j in range(100) %}xxxxxxxxxx{% endfor %}{% endfor %}"
    found = problem("<p>x</p>", text=loop)
    assert found.part == "text" and "larger than 512 KB" in found.message
    found = problem("<p>x</p>", subject=loop)
    assert found.part == "subject"


def render_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "relance-custom-template" and t.is_alive()]


@pytest.mark.parametrize(
    "source",
    [
        "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
        "{% for i in range(10000) %}{% for j in range(10000) %}{% for k in range(10000) %}"
        "{% endfor %}{% endfor %}{% endfor %}",
        "{% for i in range(10000) %}{% for j in range(10000) %}{% if i * j == -1 %}x{% endif %}"
        "{% endfor %}{% endfor %}",
        "{% macro f(n) %}{% for i in range(10000) %}{{ f(n - 1) if n }}{% endfor %}{% endmacro %}{{ f(3) }}",
    ],
    ids=["nested-loops", "triple-loops", "loops-with-work", "macro-fanout"],
)
def test_slow_templates_are_stopped(source: str) -> None:
    found = problem("<p>x</p>\n" + source)
    assert found.part == "html"
    assert "took too long" in found.message or "too much text" in found.message
    # The worker thread was made to stop, not left spinning (unwinding takes a moment on
    # a loaded machine; a thread left spinning would run for hours, not seconds).
    for thread in render_threads():
        thread.join(30)
    assert render_threads() == []


def test_a_slow_text_part_is_named() -> None:
    found = problem("<p>x</p>", text="{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}")
    assert found.part == "text" and "took too long" in found.message


def test_unbounded_recursion_is_refused() -> None:
    found = problem("{% macro f() %}{{ f() }}{% endmacro %}\n{{ f() }}")
    assert found.part == "html" and "recursion" in found.message


@pytest.mark.parametrize(
    "source",
    [
        "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}",
        "{% for i in range(2) %}" * 25 + "x" + "{% endfor %}" * 25,
    ],
    ids=["expression", "blocks"],
)
def test_deeply_nested_source_is_refused(source: str) -> None:
    found = problem(source)
    assert found.part == "html" and "nested too deeply" in found.message


# ---- CSS inlining on hostile HTML --------------------------------------------------

CSS_BOMB = (
    "<style>" + "".join(f"span {{ --v{i}: 1 }}" for i in range(1500)) + "</style>"
    "{% for i in range(1500) %}<span>x</span>{% endfor %}"
)
DEEP_NESTING = "<style>td { color: red }</style>" + "<table><tr><td>" * 3000 + "x" + "</td></tr></table>" * 3000


@pytest.mark.parametrize("html", [CSS_BOMB, DEEP_NESTING], ids=["quadratic", "deep-nesting"])
def test_css_inlining_that_would_stall_or_crash_is_refused(html: str) -> None:
    # Unchecked, the first takes ~5 s holding the GIL and the second makes css-inline
    # overflow its stack (SIGSEGV, the whole worker gone).
    found = problem(html)
    assert found.part == "html"
    assert "CSS" in found.message


@pytest.mark.parametrize("html", [CSS_BOMB, DEEP_NESTING], ids=["quadratic", "deep-nesting"])
def test_at_send_time_such_html_goes_out_without_inlining(html: str) -> None:
    out = render_custom(INVOICE, CustomTemplate(subject="s", html=html), sample_context(INVOICE), "en")
    assert "<style>" in out.html and 'style="' not in out.html


def test_html_without_a_stylesheet_is_left_as_rendered() -> None:
    html = "<div>" * 9000 + "x" + "</div>" * 9000
    out = render_custom(INVOICE, CustomTemplate(subject="s", html=html), sample_context(INVOICE), "en")
    assert out.html == html


# ---- every kind --------------------------------------------------------------------

USES = {
    "invoice": "{{ invoice.number }} {{ invoice.amount_due|money(invoice.currency) }} {{ invoice.due_date|date }}",
    "reminder": "{{ reminder.days_from_due }} {{ reminder.manual }}",
    "card": "{{ card.brand|card_brand }} {{ card.last4 }} {{ card.exp_month|month_year(card.exp_year) }}",
    "credit_note": "{{ credit_note.number }} {{ credit_note.amount|money(credit_note.currency) }}",
    "refund": "{{ refund.amount|money(refund.currency) }} {{ refund.created|date }}",
    "subscription": "{{ subscription.plan_name }} {{ subscription.trial_end|date }} "
    "{{ subscription.canceled_at|date }}",
}


@pytest.mark.parametrize("kind", list(EmailKind))
def test_every_kind_has_a_sample_context_and_renders(kind: EmailKind) -> None:
    ctx = sample_context(kind)
    for part in REQUIRED_CONTEXT[kind]:
        assert getattr(ctx, part) is not None

    trivial = CustomTemplate(subject="Hello {{ customer.name }}", html="<p>{{ business }}</p>")
    validate_template(kind, trivial)
    out = render_custom(kind, trivial, ctx, "fr")
    assert out.subject == "Hello Camille Martin"
    assert "Northwind Studio" in out.html and out.text == "Northwind Studio\n"

    uses = " | ".join(USES[part] for part in REQUIRED_CONTEXT[kind])
    template = CustomTemplate(subject=f"{kind.value}: {uses}", html=f"<p>{uses}</p>", text=uses)
    validate_template(kind, template)
    out = render_custom(kind, template, ctx, "en")
    assert "None" not in out.subject
    assert out.text.strip() and "\n" not in out.subject


def test_sample_amounts_and_links_are_realistic() -> None:
    ctx = sample_context(EmailKind.invoice_reminder)
    assert ctx.invoice is not None and ctx.reminder is not None
    assert format_money(ctx.invoice.amount_due, ctx.invoice.currency, "fr") == f"1{NNBSP}234,50{NBSP}€"
    assert ctx.reminder.days_from_due == 3
    assert ctx.links.pay_url and ctx.links.pay_url.startswith("https://")
    receipt = sample_context(EmailKind.receipt).invoice
    assert receipt is not None and receipt.status == "paid"
    assert sample_context(EmailKind.card_expiring).invoice is None
