"""Account owners' own email templates, rendered in a sandbox.

An owner may replace Relance's template for an email kind with their own subject, HTML
and (optionally) text. Those templates are untrusted code: whoever can upload one must
not be able to read the worker's memory or files, run Python, put unescaped customer
text into the HTML, or stall or exhaust the worker that sends everyone's email. They
see the same variables and filters as the default templates (`relance.rendering.email`), but
through `jinja2.sandbox.ImmutableSandboxedEnvironment` plus the layers below.

What the sandbox alone does not cover, and what this package adds (one module per job:
`limits`, `problems`, `budget`, `formats`, `guards`, `attributes`, `sandbox`,
`compiler`, `css_cost`, `text`, `deadline`, `samples`, and `render`, which ties them):

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
  an exception is raised inside that thread (`deadline`).
* CSS inlining (css-inline) holds the GIL and is quadratic in (declarations x
  elements): 120 KB of HTML took 70 s. Its work is estimated first (`css_cost`).

What it cannot do in-process: C code that holds the GIL cannot be interrupted, so the
guarantees rest on no template-reachable C call being expensive, which is what the
checks above are for. A process-level memory limit on the worker (RLIMIT_AS, a
container limit) is still the backstop.

Template syntax is Jinja's, with `trim_blocks` and `lstrip_blocks` on, like Relance's
own templates. HTML is autoescaped; the subject and text parts are not.
"""

from relance.rendering.custom.limits import MAX_SOURCE_BYTES
from relance.rendering.custom.problems import TemplateProblem
from relance.rendering.custom.render import CustomTemplate, render_custom, validate_template
from relance.rendering.custom.samples import sample_context

__all__ = [
    "MAX_SOURCE_BYTES",
    "CustomTemplate",
    "TemplateProblem",
    "render_custom",
    "sample_context",
    "validate_template",
]
