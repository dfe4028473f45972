"""Every kind, on and off: on, exactly one email of that kind goes out; off, none, and the
log says it was skipped because it is turned off."""

from __future__ import annotations

import pytest

from relance.contracts.kinds import EmailKind
from tests.support.events import customer, event
from tests.support.harness import Harness
from tests.support.triggers import triggers


@pytest.mark.parametrize("enabled", [True, False], ids=["on", "off"])
@pytest.mark.parametrize("kind", list(EmailKind), ids=[k.value for k in EmailKind])
async def test_each_kind_follows_its_switch(harness: Harness, kind: EmailKind, enabled: bool) -> None:
    h = harness
    h.save_settings(emails={kind.value: enabled}, reminders=[-1])
    now = await h.now()
    await h.send(event("customer.created", customer("cus_test"), created=now))
    events, wait = triggers(kind, now, f"{kind.value[:8]}_{enabled}")
    await h.send(*events)
    await h.advance(wait, step=wait / 4)
    of_kind = [e for e in h.log() if e.kind == kind.value]
    if enabled:
        assert [e.status for e in of_kind] == ["sent"]
        assert len([m for m in h.outbox_messages() if m["X-Relance-Kind"] == kind.value]) == 1
    else:
        assert [(e.status, e.error) for e in of_kind] == [("skipped", "turned off in settings")]
        assert not [m for m in h.outbox_messages() if m["X-Relance-Kind"] == kind.value]
