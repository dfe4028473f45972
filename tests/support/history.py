"""Measuring what a workflow keeps in Temporal: every payload in its history, as stored
(after the data converter's codecs)."""

from __future__ import annotations

from collections.abc import Iterator

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowHistory


def payloads_in(message: Message) -> Iterator[Payload]:
    """Every Payload anywhere in a protobuf message (inputs, results, signals, memos...)."""
    if isinstance(message, Payload):
        yield message
        return
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if isinstance(value, Message):
            yield from payloads_in(value)
            continue
        # A repeated field or a map of messages.
        items = value.values() if hasattr(value, "values") else value
        for item in items:
            if isinstance(item, Message):
                yield from payloads_in(item)


def payload_sizes(history: WorkflowHistory) -> list[tuple[str, int]]:
    """(event type, stored size in bytes) of each payload, largest first."""
    sizes = []
    for event in history.events:
        name = event.WhichOneof("attributes") or "?"
        for payload in payloads_in(event):
            sizes.append((name, payload.ByteSize()))
    return sorted(sizes, key=lambda s: -s[1])
