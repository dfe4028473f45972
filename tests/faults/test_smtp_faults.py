"""Lifecycles through the SMTP transport while the server misbehaves (the aiosmtpd sink,
scripted): 4xx replies, connections dropped mid-transaction, a server too slow for our
timeout, 5xx refusals. Every email reaches the sink exactly once, or is failed in the log
(5xx) and never reaches it.

The faults are scripted for "the next MAIL/DATA" the sink sees, whichever email that is:
the assertions count, per Message-ID, rather than predict which email got which fault.
A delay is put on MAIL, not DATA: a server that accepts the message after the client
gave up is the documented ambiguous window (docs/reliability.md), not a retry case.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from activities.transports.smtp import SmtpTransport
from tests.conftest import running_harness
from tests.faults.lifecycles import batch, expected_keys
from tests.support.smtp_sink import SmtpSink

REFUSED = "ap6@client-demo.fr"  # lifecycles i % 7 == 6 email this address: 550, always


async def test_smtp_refusing_and_dropping_connections_delivers_each_email_once(time_env, config, sqlite_url) -> None:
    config = config.model_copy(update={"default_from_email": "billing@relance-demo.fr"})
    lives = batch("smtp", 14)
    wanted = expected_keys(lives)
    refused_invoices = {life.invoice_id for i, life in enumerate(lives) if i % 7 == 6}
    with SmtpSink() as sink:
        sink.refuse_recipient(REFUSED)
        sink.fail_next("MAIL", "421 4.7.0 Too many connections, try again later")
        sink.fail_next("DATA", "451 4.3.0 Temporary local problem")
        sink.drop_next("MAIL")
        sink.drop_next("DATA")
        sink.delay_next("MAIL", 3.0)  # longer than the transport's timeout
        sink.fail_next("DATA", "451 4.3.0 Temporary local problem")
        sink.fail_next("DATA", "554 5.6.0 Message rejected by policy")  # final for one email
        transport = SmtpTransport(sink.host, sink.port, timeout=1.5)
        async with running_harness(time_env, config, sqlite_url, transport) as h:
            h.save_settings(attach_pdf=False)
            for life in lives:
                for ev in life.events:
                    for accepted in await h.client.send(ev):
                        h.workflow_ids.add(accepted.workflow_id)
            deadline = time.monotonic() + 150
            while not (len(rows := h.log()) >= len(wanted) and all(r.status in ("sent", "failed") for r in rows)):
                assert time.monotonic() < deadline, [(r.idempotency_key, r.status, r.error) for r in h.log()]
                await asyncio.sleep(0.3)
            rows = h.log()
        messages = list(sink.messages)

    assert Counter(r.idempotency_key for r in rows) == Counter(wanted)
    failed = [r for r in rows if r.status == "failed"]
    sent = [r for r in rows if r.status == "sent"]
    # 550 for one address: both of its customer's emails, final at the first attempt.
    refused = [r for r in failed if r.invoice_id in refused_invoices]
    assert len(refused) == 2 * len(refused_invoices) and all("550" in (r.error or "") for r in refused)
    # 554 for whichever email took it.
    [policy] = [r for r in failed if r.invoice_id not in refused_invoices]
    assert "554" in (policy.error or "")
    # Each of the 6 transient faults cost some email one noted attempt, then it was retried.
    assert sum(r.attempts for r in rows) >= 6
    # The sink has each sent email once (by Message-ID) and nothing of the failed ones.
    received = Counter(m.message["Message-ID"] for m in messages)
    assert received == Counter(r.provider_message_id for r in sent)
    assert all(r.provider_message_id not in received for r in failed)
    assert len(messages) == len(sent) == len(wanted) - len(failed)
