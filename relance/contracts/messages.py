"""An email on its way out: what rendering produces and what a transport sends."""

from __future__ import annotations

from pydantic import BaseModel, Field


class RenderedContent(BaseModel):
    """Output of template rendering for one kind in one locale."""

    subject: str
    html: str  # CSS already inlined
    text: str


class Attachment(BaseModel):
    filename: str
    content_type: str = "application/pdf"
    content: bytes


class OutgoingEmail(BaseModel):
    """A fully resolved message. Every transport sends exactly this."""

    message_id: str  # RFC 5322 Message-ID, derived from the idempotency key: stable across retries
    from_email: str
    from_name: str | None = None
    to: list[str]
    cc: list[str] = Field(default_factory=list)
    reply_to: str | None = None
    subject: str
    html: str
    text: str
    attachments: list[Attachment] = Field(default_factory=list)
    # Non-identifying tags carried to the provider (SendGrid custom_args, X-Relance-* headers).
    tags: dict[str, str] = Field(default_factory=dict)


class SendOutcome(BaseModel):
    provider: str
    provider_message_id: str | None = None
