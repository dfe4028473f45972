"""Custom templates in the lifecycle: a new template applies to invoices finalized after
the change; running invoices keep the version they pinned. And `relance preview`."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from relance.contracts.kinds import EmailKind
from relance.rendering.custom import CustomTemplate
from relance.services.templates import TemplateProblem, reset_template, save_template
from relance.storage.database import session_scope
from tests.support.events import customer, event, invoice
from tests.support.harness import Harness
from tests.support.mail import body_text

DAY = timedelta(days=1)


def upload(h: Harness, kind: EmailKind, subject: str) -> int:
    html = "<p>Hello {{ customer.name }}, {{ invoice.amount_due|money(invoice.currency) }} is due.</p>"
    with session_scope(h.engine) as s:
        return save_template(s, kind, CustomTemplate(subject=subject, html=html))


async def test_new_template_applies_to_new_invoices_only(harness: Harness) -> None:
    h = harness
    h.save_settings(reminders=[-1])
    upload(h, EmailKind.invoice_finalized, "V1 invoice {{ invoice.number }}")
    upload(h, EmailKind.invoice_reminder, "V1 reminder {{ invoice.number }}")
    now = await h.now()
    await h.send(event("customer.created", customer("cus_test"), created=now))
    await h.send(event("invoice.finalized", invoice("in_tpl1", due=now + 5 * DAY, number="A-1"), created=now))
    upload(h, EmailKind.invoice_finalized, "V2 invoice {{ invoice.number }}")
    upload(h, EmailKind.invoice_reminder, "V2 reminder {{ invoice.number }}")
    await h.send(event("invoice.finalized", invoice("in_tpl2", due=now + 5 * DAY, number="A-2"), created=now))
    await h.advance(6 * DAY)
    subjects = sorted(e.subject or "" for e in h.sent())
    assert subjects == ["V1 invoice A-1", "V1 reminder A-1", "V2 invoice A-2", "V2 reminder A-2"]
    [msg] = [m for m in h.outbox_messages() if m["Subject"] == "V2 invoice A-2"]
    assert "1\u202f234,50" not in body_text(msg, "html")  # English account locale
    assert "€1,234.50" in body_text(msg, "html")


async def test_reset_goes_back_to_the_default(harness: Harness) -> None:
    h = harness
    upload(h, EmailKind.receipt, "Custom receipt")
    with session_scope(h.engine) as s:
        reset_template(s, EmailKind.receipt)
    now = await h.now()
    obj = invoice("in_tpl3", status="paid", collection_method="charge_automatically")
    await h.send(event("customer.created", customer("cus_test"), created=now), event("invoice.paid", obj, created=now))
    [entry] = h.sent()
    assert entry.subject != "Custom receipt" and entry.note is None


def test_invalid_upload_is_refused_with_its_line(harness: Harness) -> None:
    with pytest.raises(TemplateProblem) as err:
        upload(harness, EmailKind.invoice_finalized, "{{ invoice.number ")
    assert err.value.part == "subject"
    with session_scope(harness.engine) as s:
        with pytest.raises(TemplateProblem) as err:
            save_template(
                s, EmailKind.invoice_finalized, CustomTemplate(subject="ok", html="<p>\n{{ ''.__class__.__mro__ }}</p>")
            )


@pytest.mark.parametrize("kind", ["receipt", "credit_note_created", "trial_ending"])
def test_preview_writes_email_and_pdfs(tmp_path: Path, kind: str) -> None:
    env = dict(os.environ, RELANCE_STATE_DIR=str(tmp_path / ".relance"))
    out = tmp_path / "preview"
    result = subprocess.run(
        [str(Path(sys.executable).parent / "relance"), "preview", kind, "--locale", "de", "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    files = sorted(p.name for p in out.iterdir())
    assert f"{kind}.de.html" in files and f"{kind}.de.txt" in files
    pdfs = [f for f in files if f.endswith(".pdf")]
    assert len(pdfs) == {"receipt": 2, "credit_note_created": 1, "trial_ending": 0}[kind]
    for name in pdfs:
        assert (out / name).read_bytes().startswith(b"%PDF")
    text = (out / f"{kind}.de.txt").read_text()
    assert text.startswith("Subject: ") and len(text) > 100
