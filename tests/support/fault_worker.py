"""`relance worker` with one fault injected, for tests/faults: the worker process (and its
group) is SIGKILLed right after the real transport accepted an email and before the
email log records it as sent: the crash window docs/reliability.md describes.

    RELANCE_FAULT_MARKER=/tmp/x python -m tests.support.fault_worker

Only the first email is hit: the marker file (holding its Message-ID) is written, made
durable, then the process group dies. A marker that already exists means "no fault".
Fault injection around the real transport, not a replacement for it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

from activities.transports.base import Transport
from activities.transports.factory import build_transport
from relance.contracts.messages import OutgoingEmail, SendOutcome
from relance.platform.config import Config


class KillAfterSend:
    def __init__(self, inner: Transport, marker: Path) -> None:
        self.inner = inner
        self.marker = marker
        self.name = inner.name
        self.credential_fingerprint = inner.credential_fingerprint

    async def send(self, email: OutgoingEmail) -> SendOutcome:
        outcome = await self.inner.send(email)
        if not self.marker.exists():
            with self.marker.open("w") as f:
                f.write(email.message_id)
                f.flush()
                os.fsync(f.fileno())
            os.killpg(os.getpgid(0), signal.SIGKILL)
        return outcome


def main() -> None:
    from worker.main import run_worker

    logging.basicConfig(level=logging.INFO)
    config = Config()
    transport = KillAfterSend(build_transport(config), Path(os.environ["RELANCE_FAULT_MARKER"]))
    asyncio.run(run_worker(config, transport=transport))


if __name__ == "__main__":
    main()
