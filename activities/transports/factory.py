"""The transport a process uses, chosen by `RELANCE_TRANSPORT`."""

from __future__ import annotations

from activities.transports.base import Transport
from activities.transports.outbox import OutboxTransport
from activities.transports.sendgrid import SendGridTransport
from activities.transports.smtp import SmtpTransport
from relance.platform.config import Config, TransportName


def build_transport(config: Config) -> Transport:
    """Raises ValueError for a configuration that cannot work (no key, TLS modes clash),
    so a worker fails at start-up rather than on its first email."""
    if config.transport == TransportName.outbox:
        return OutboxTransport(config.resolved_outbox_dir())
    if config.transport == TransportName.smtp:
        return SmtpTransport(
            config.smtp_host,
            config.smtp_port,
            username=config.smtp_username,
            password=config.smtp_password,
            starttls=config.smtp_starttls,
            use_tls=config.smtp_use_tls,
            timeout=config.smtp_timeout,
        )
    if config.transport == TransportName.sendgrid:
        if config.sendgrid_api_key is None:
            raise ValueError("RELANCE_TRANSPORT=sendgrid needs RELANCE_SENDGRID_API_KEY")
        return SendGridTransport(
            config.sendgrid_api_key,
            base_url=config.sendgrid_base_url,
            timeout=config.sendgrid_timeout,
        )
    raise ValueError(f"unknown transport {config.transport!r}")
