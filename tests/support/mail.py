"""Reading the emails tests receive: a body part that must be there, as text."""

from __future__ import annotations

from email.message import EmailMessage, MIMEPart
from typing import Literal


def body_text(msg: EmailMessage | MIMEPart, subtype: Literal["plain", "html"]) -> str:
    """The message's text/<subtype> body; fails the test when it has none."""
    part = msg.get_body(preferencelist=(subtype,))
    assert part is not None, f"no text/{subtype} body"
    content = part.get_content()
    assert isinstance(content, str)
    return content
