"""Why a custom template cannot be used, and how a render error becomes that reason."""

from __future__ import annotations

from typing import Literal

from jinja2 import TemplateSyntaxError
from jinja2.exceptions import SecurityError, TemplateError

Part = Literal["subject", "html", "text"]


class TemplateProblem(ValueError):
    """Why a custom template cannot be used, with the part and line when known."""

    def __init__(self, part: Part, message: str, line: int | None = None) -> None:
        self.part = part
        self.message = message
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.part if self.line is None else f"{self.part}, line {self.line}"
        return f"{where}: {self.message}"


class LimitExceeded(SecurityError):
    # A SecurityError raised inside template code, so Jinja attaches the template line.
    pass


def _error_line(exc: BaseException, part: Part) -> int | None:
    """The template line Jinja wrote into the traceback, if the error came from there."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == f"<{part}>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def as_problem(exc: BaseException, part: Part) -> TemplateProblem:
    if isinstance(exc, TemplateProblem):
        return exc
    if isinstance(exc, TemplateSyntaxError):
        return TemplateProblem(part, exc.message or "syntax error", exc.lineno)
    if isinstance(exc, RecursionError):
        message = "too much recursion"
    elif isinstance(exc, TemplateError):
        message = exc.message or type(exc).__name__
    else:
        message = f"{type(exc).__name__}: {exc}"
    return TemplateProblem(part, message, _error_line(exc, part))
