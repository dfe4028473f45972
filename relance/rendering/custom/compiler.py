"""A custom template's source compiled in the sandbox, with what it may not use refused
at parse time."""

from __future__ import annotations

from functools import lru_cache

from jinja2 import Template, TemplateSyntaxError, nodes

from relance.rendering.custom.limits import MAX_SOURCE_BYTES
from relance.rendering.custom.problems import Part, TemplateProblem
from relance.rendering.custom.sandbox import sandbox_for

_REFUSED_NODES: tuple[tuple[type[nodes.Node], str], ...] = (
    (nodes.Extends, "extends"),
    (nodes.Include, "include"),
    (nodes.Import, "import"),
    (nodes.FromImport, "from ... import"),
)


# Compiled code for a 100 KB template can weigh megabytes: a few dozen are plenty for
# the kinds x locales one deployment sends.
@lru_cache(maxsize=64)
def compiled(locale: str, part: Part, source: str) -> Template:
    env = sandbox_for(locale, part == "html")
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


def check_source(part: Part, source: str) -> None:
    """Refuse a source larger than MAX_SOURCE_BYTES (bytes, not characters)."""
    if len(source.encode("utf-8", "surrogatepass")) > MAX_SOURCE_BYTES:
        raise TemplateProblem(part, f"the template is larger than {MAX_SOURCE_BYTES // 1024} KB")
