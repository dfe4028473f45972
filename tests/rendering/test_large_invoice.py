"""An invoice with 5,000 lines, end to end on the time-skipping server: the email goes
out with its full paged PDF, and what the workflow keeps in Temporal stays small."""

from __future__ import annotations

import hashlib
import io
import re
from datetime import timedelta

from pypdf import PdfReader

from relance.contracts.events import InvoiceEvent
from relance.contracts.models import InvoiceSignal
from relance.platform.clock import settle
from tests.support.events import customer, event, invoice, parse_one
from tests.support.harness import Harness
from tests.support.history import payload_sizes
from tests.support.mail import body_text

DAY = timedelta(days=1)
LINES = 5000
KB = 1024


def big_invoice(inv_id: str, due) -> dict:
    obj = invoice(inv_id, "cus_big", due=due, lines=LINES, amount=LINES * 1234)
    # Distinct descriptions, so compression is not flattered by repetition.
    for i, line in enumerate(obj["lines"]["data"]):
        line["description"] = f"Seat {i + 1}, project {hashlib.sha1(str(i).encode()).hexdigest()[:16]}"
    return obj


async def test_5000_lines_email_pdf_and_small_history(harness: Harness) -> None:
    h = harness
    h.save_settings(reminders=[])
    now = await h.now()
    obj = big_invoice("in_big5k", now + 30 * DAY)
    finalized = event("invoice.finalized", obj, created=now)
    for accepted in await h.client.send([event("customer.created", customer("cus_big"), created=now), finalized]):
        h.workflow_ids.add(accepted.workflow_id)
    # The PDF takes tens of seconds on a shared CPU: wait for it, well inside the
    # render activity's own 5-minute limit.
    await settle(h.temporal, h.workflow_ids, timeout=240)

    [entry] = h.sent()
    assert entry.kind == "invoice_finalized"
    [msg] = h.outbox_messages()
    [pdf] = [p.get_payload(decode=True) for p in msg.iter_attachments() if p.get_content_type() == "application/pdf"]
    assert isinstance(pdf, bytes)
    reader = PdfReader(io.BytesIO(pdf))
    pages = len(reader.pages)
    assert pages >= 100, pages
    first = reader.pages[0].extract_text()
    last = re.sub(r"\s+", " ", reader.pages[-1].extract_text())
    assert "Seat 1, project" in first and f"Page 1 of {pages}" in first.replace("\n", " ")
    assert f"Seat {LINES}, project" in last and f"Page {pages} of {pages}" in last
    assert "Total €61,700.00" in last  # 5,000 x €12.34, once, on the last page
    # The email body does not list 5,000 lines; it stays an email.
    assert len(body_text(msg, "html")) < 200 * KB

    # What Temporal holds: the invoice itself is the largest payload (signal and
    # record_invoice input), compressed; the workflow's own state is a revision id.
    history = await h.temporal.get_workflow_handle("invoice-in_big5k").fetch_history()
    sizes = payload_sizes(history)
    raw_signal = len(
        InvoiceSignal(
            event_id=finalized["id"],
            type=finalized["type"],
            created=now,
            invoice=parse_one(finalized, InvoiceEvent).invoice,
        ).model_dump_json()
    )
    assert raw_signal > 512 * KB  # uncompressed, it would pass Temporal's warning size
    largest = sizes[0][1]
    assert largest < 256 * KB, sizes[:5]
    # Only the two carriers of the invoice are more than a few KB: the signal and the
    # record_invoice input. Results, email requests and timers hold references.
    big = [kind for kind, size in sizes if size > 4 * KB]
    assert sorted(big) == [
        "activity_task_scheduled_event_attributes",
        "workflow_execution_signaled_event_attributes",
    ], sizes[:5]
    print(
        f"5,000 lines: {pages} pages, raw signal {raw_signal // KB} KB, largest stored payload {largest // KB} KB, "
        f"whole history {sum(s for _, s in sizes) // KB} KB"
    )


async def test_compression_is_only_for_large_payloads_and_composes_with_encryption() -> None:
    import base64
    import os

    from temporalio.api.common.v1 import Payload

    from relance.platform.codec import COMPRESS_ABOVE, ChainCodec, CompressionCodec, EncryptionCodec, parse_keys

    small = Payload(metadata={"encoding": b"json/plain"}, data=b'{"a": 1}')
    large = Payload(metadata={"encoding": b"json/plain"}, data=b'{"lines": "' + b"seat " * COMPRESS_ABOVE + b'"}')
    codec = CompressionCodec()
    encoded = await codec.encode([small, large])
    assert encoded[0] == small  # left readable in the Temporal UI
    assert encoded[1].metadata["encoding"] == b"binary/zlib" and encoded[1].ByteSize() < large.ByteSize() // 50
    assert await codec.decode(encoded) == [small, large]
    # Histories written before compression existed decode unchanged.
    assert await codec.decode([large]) == [large]
    keys = parse_keys("k1:" + base64.b64encode(os.urandom(32)).decode())
    chain = ChainCodec([CompressionCodec(), EncryptionCodec(keys)])
    sealed = await chain.encode([large])
    assert sealed[0].metadata["encoding"] == b"binary/encrypted" and sealed[0].ByteSize() < large.ByteSize() // 50
    assert await chain.decode(sealed) == [large]
