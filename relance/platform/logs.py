"""Process logging: the text format people read, or one JSON object per line for a log
pipeline (RELANCE_LOG_FORMAT=json), both on stderr (stdout carries commands' output).

A JSON line has `time` (ISO 8601, UTC), `level`, `logger`, `message`, and the context the
record carries: the Temporal SDK's loggers attach `temporal_activity` / `temporal_workflow`
dicts, Relance's own calls pass `invoice_id`, `customer_id`, `kind`... through `extra`,
and a record logged inside an activity gets that activity's identity even from a plain
`logging.getLogger` logger. Only the fields named here are copied: an `extra` cannot smuggle
a message body into the logs, and libraries' own extras (uvicorn's coloured copy of the
message) stay out. In both formats the configured secrets are blanked from every line,
whatever logged them.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

from relance.platform.config import Config, LogFormat

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Relance's own context, passed as `extra=` by its log calls. Identifiers and labels only.
CONTEXT_FIELDS = ("invoice_id", "customer_id", "kind", "email_key", "document", "transport", "status", "reason")

# What the SDK's adapters attach (`temporal_activity`, `temporal_workflow`), under the
# names a JSON line uses.
_TEMPORAL_FIELDS = {
    "workflow_id": "workflow_id",
    "workflow_run_id": "run_id",
    "run_id": "run_id",
    "workflow_type": "workflow_type",
    "activity_type": "activity_type",
    "activity_id": "activity_id",
    "attempt": "attempt",
}

# Chatter at INFO that says nothing about Relance (alembic lists its plugins on import).
QUIET = ("alembic.runtime.plugins",)

REDACTED = "[redacted]"
# Shorter values would blank ordinary words; a real key or password is longer.
_MIN_SECRET = 6


def configured_secrets(config: Config) -> list[str]:
    """Every secret a setting holds, and each key of RELANCE_ENCRYPTION_KEYS on its own."""
    values = []
    for name in Config.model_fields:
        value = getattr(config, name)
        if hasattr(value, "get_secret_value"):
            values.append(value.get_secret_value())
    if config.encryption_keys:
        for item in config.encryption_keys.get_secret_value().split(","):
            values.append(item.partition(":")[2].strip())
    return [v for v in values if v and len(v) >= _MIN_SECRET]


def _activity_context() -> Mapping[str, Any] | None:
    from temporalio import activity

    if not activity.in_activity():
        return None
    info = activity.info()
    return {
        "activity_type": info.activity_type,
        "activity_id": info.activity_id,
        "attempt": info.attempt,
        "workflow_id": info.workflow_id,
        "workflow_run_id": info.workflow_run_id,
        "workflow_type": info.workflow_type,
    }


class Redactor:
    def __init__(self, secrets: Iterable[str]) -> None:
        # As written in a JSON string too (a quote or backslash escaped); longest first,
        # so a secret containing another is blanked whole.
        variants = {v for s in secrets for v in (s, json.dumps(s, ensure_ascii=False)[1:-1])}
        self.secrets = sorted(variants, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


class TextFormatter(logging.Formatter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__(TEXT_FORMAT)
        self.redact = Redactor(secrets)

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))


class JsonFormatter(logging.Formatter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.redact = Redactor(secrets)

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        temporal = getattr(record, "temporal_activity", None) or getattr(record, "temporal_workflow", None)
        if not isinstance(temporal, Mapping):
            temporal = _activity_context()
        for key, value in (temporal or {}).items():
            if key in _TEMPORAL_FIELDS and value is not None:
                line[_TEMPORAL_FIELDS[key]] = value
        for key in CONTEXT_FIELDS:
            value = getattr(record, key, None)
            if value is not None:
                line[key] = value if isinstance(value, (int, float, bool)) else str(value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        # json.dumps escapes newlines and quotes: text inside a message cannot start a line
        # of its own or close the object early.
        return self.redact(json.dumps(line, ensure_ascii=False, default=str))


def setup_logging(
    fmt: LogFormat, level: int | str, *, secrets: Iterable[str] = (), stream: TextIO | None = None
) -> logging.StreamHandler[TextIO]:
    """Replace the root logger's handlers with one on stderr (or `stream`) in `fmt`."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(secrets) if fmt == LogFormat.json else TextFormatter(secrets))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    _temporal_details_on_message(fmt != LogFormat.json)
    return handler


def json_active() -> bool:
    """Whether the process logs JSON lines: then a fatal error is a line too."""
    return any(isinstance(h.formatter, JsonFormatter) for h in logging.getLogger().handlers)


def _temporal_details_on_message(on: bool) -> None:
    """The SDK appends a dict of activity / workflow details to every message. A JSON
    line already has them as fields; text keeps them in the message."""
    from temporalio import activity, workflow

    activity.logger.activity_info_on_message = on
    workflow.logger.workflow_info_on_message = on


def configure_from(config: Config, *, default_level: int) -> logging.StreamHandler[TextIO]:
    level = config.log_level.value if config.log_level else default_level
    return setup_logging(config.log_format, level, secrets=configured_secrets(config))
