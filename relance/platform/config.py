"""Process configuration (environment `RELANCE_*`, or a `.env` file).

This is how a process connects to things. What an account *wants* (which emails,
the reminder schedule, branding) lives in the database: see `relance.contracts.account`.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class TransportName(StrEnum):
    outbox = "outbox"
    smtp = "smtp"
    sendgrid = "sendgrid"


class LogFormat(StrEnum):
    text = "text"
    json = "json"


class LogLevel(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"
    CRITICAL = "CRITICAL"


class SettingError(ValueError):
    """A setting that parses but does not work here (a port already taken...). The
    message names the setting."""


def parse_bind(value: str) -> tuple[str, int]:
    """ "host:port", "[::1]:port" or ":port" (all interfaces) -> (host, port)."""
    host, sep, port = value.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected host:port (e.g. 0.0.0.0:9464), got {value!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


class Config(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RELANCE_", env_file=".env", extra="ignore", validate_default=True)

    # Where the embedded stack keeps everything it writes.
    state_dir: Path = Path(".relance")

    # Temporal connection. The defaults are the embedded dev server.
    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    task_queue: str = "relance"
    temporal_tls: bool = False
    temporal_api_key: SecretStr | None = None
    temporal_tls_client_cert: Path | None = None
    temporal_tls_client_key: Path | None = None
    temporal_tls_server_ca: Path | None = None
    # The name the server certificate is checked against (and SNI), when it differs from
    # the host dialled: a proxy, an IP address, a private endpoint.
    temporal_tls_server_name: str | None = None
    temporal_ui_url: str = "http://localhost:8233"

    # Application database; SQLite under state_dir unless a URL is given.
    database_url: str | None = None
    # Create or upgrade the schema when a process opens the database (serialised by a
    # lock). Off: run `relance db upgrade` as a deploy step; a process then refuses a
    # database that is not at the current revision.
    db_auto_migrate: bool = True

    # Delivery.
    transport: TransportName = TransportName.outbox
    outbox_dir: Path | None = None
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_use_tls: bool = False
    smtp_timeout: float = 30.0
    sendgrid_api_key: SecretStr | None = None
    sendgrid_base_url: str = "https://api.sendgrid.com"
    sendgrid_timeout: float = 30.0
    # When the provider refuses our credentials (SendGrid 401, SMTP 535), emails are held:
    # each re-checks the hold this often (a database read), and one is let through to the
    # provider this often to see whether the key works again (transport_holds.py).
    hold_retry_seconds: float = Field(default=600, gt=0, le=86400)
    hold_probe_seconds: float = Field(default=600, gt=0, le=86400)

    # Default sender when the account has no verified domain of its own.
    default_from_email: str = "billing@relance.localhost"
    default_from_name: str = "Billing"

    # HTTP API (relance api, also started by `make run`).
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_key: SecretStr | None = None  # every route but the signed webhook receivers needs it
    stripe_webhook_secret: SecretStr | None = None
    sendgrid_webhook_public_key: str | None = None

    # Payload encryption for workflow histories (relance/platform/codec.py): "id:base64key,...".
    encryption_keys: SecretStr | None = None

    # The email log (and its stored bodies and PDFs) is kept this many days.
    log_retention_days: int = Field(default=30, ge=1, le=3650)

    # DNS server used to verify sender domains (default: the system resolver).
    dns_nameserver: str | None = None
    dns_port: int = 53

    # PDF rendering runs in this many worker processes (WeasyPrint is CPU-bound).
    pdf_processes: int = Field(default=0, description="0 means one per core")

    # Logs on stderr: "text" for people, "json" (one object per line) for a log pipeline.
    # The level defaults to INFO for `relance worker`, `api` and `dev`, WARNING for the
    # one-shot commands (INFO with --verbose).
    log_format: LogFormat = LogFormat.text
    log_level: LogLevel | None = None

    # Prometheus endpoints, "host:port" (off when unset). Relance's own metrics (emails
    # sent / failed / suppressed, render and delivery durations) are served by the worker
    # and the API process; the Temporal SDK serves its own (temporal_*) on a second port.
    metrics_bind: str | None = None
    temporal_metrics_bind: str | None = None

    # Worker tuning (defaults chosen from bench/throughput.py runs: bench/results/NOTES.md).
    # Sync activities each hold one of these threads while they run.
    worker_activity_threads: int = Field(default=16, ge=1, le=512)
    # Workflows kept in memory between tasks; evicted ones are replayed from history.
    worker_max_cached_workflows: int = Field(default=1000, ge=0)
    # Concurrent long polls on the task queue, for workflow and activity tasks.
    worker_workflow_task_pollers: int = Field(default=5, ge=1, le=100)
    worker_activity_task_pollers: int = Field(default=5, ge=1, le=100)

    @field_validator("metrics_bind", "temporal_metrics_bind")
    @classmethod
    def _bind(cls, value: str | None) -> str | None:
        if value is not None and value.strip():
            parse_bind(value)
            return value.strip()
        return None  # set but empty, as compose files do to turn a default off

    @field_validator("log_level", mode="before")
    @classmethod
    def _level(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.state_dir / 'relance.db').resolve()}"

    def resolved_outbox_dir(self) -> Path:
        return self.outbox_dir or (self.state_dir / "outbox")

    @property
    def dev_api_key_file(self) -> Path:
        """Where `relance dev` keeps the API key it generates when RELANCE_API_KEY is not
        set; the dashboard's login page points there."""
        return self.state_dir / "api-key"


@lru_cache(maxsize=1)
def get_config() -> Config:
    return Config()
