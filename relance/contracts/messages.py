"""An email on its way out: what rendering produces and what a transport sends."""

from __future__ import annotations

from datetime import datetime

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


class MessageOrigin(BaseModel):
    """What a message is about, for a transport that files it locally (the outbox names
    its files by it). Never sent."""

    kind: str
    customer_id: str
    invoice_id: str | None = None
    at: datetime  # when the workflow decided to send it: the same on every retry


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
    origin: MessageOrigin | None = None  # None in messages stored before it existed


class SendOutcome(BaseModel):
    provider: str
    provider_message_id: str | None = None
