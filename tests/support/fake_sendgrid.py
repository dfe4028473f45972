"""A local stand-in for SendGrid's `POST /v3/mail/send`, strict about what it accepts.

Every request must carry `Authorization: Bearer <api_key>` (else 401) and a JSON body
valid against the request schema of SendGrid's own OpenAPI spec
(`tests/specs/sendgrid/tsg_mail_v3.json`), plus a few rules SendGrid documents
outside the schema (else 400 with SendGrid-shaped `errors`). Accepted requests get 202
with an `X-Message-Id` header.

    from tests.support.fake_sendgrid import FakeSendGrid

    with FakeSendGrid() as fake:                 # fake.api_key, fake.url, fake.port
        transport = SendGridTransport(fake.api_key, base_url=fake.url)
        await transport.send(email)
        fake.payloads[0]["personalizations"]     # bodies it accepted (202), as dicts
        fake.message_ids[0]                      # the X-Message-Id it answered
        fake.requests                            # every request, accepted or not

Scripted answers (served in order, one per valid request, after auth and validation):

    fake.queue(429, headers={"Retry-After": "7"})
    fake.queue(503)
    fake.queue(400, errors=[{"field": "from", "message": "..."}])
    fake.queue(202, delay=2.0)                   # answers late, for client timeouts

`validate_mail_send(payload)` returns the list of problems without any server, for tests
that build payloads themselves.
"""

from __future__ import annotations

import copy
import json
import os
import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from functools import lru_cache
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.support.specs import specs_dir

SPEC_PATH = Path(
    os.environ.get(
        "RELANCE_SENDGRID_SPEC",
        specs_dir() / "sendgrid" / "tsg_mail_v3.json",
    )
)
_SPEC_URI = "urn:relance:sendgrid:tsg_mail_v3"
_BODY_POINTER = "/components/requestBodies/PostMailSend/content/application~1json/schema"
MAIL_SEND_PATH = "/v3/mail/send"
DEFAULT_API_KEY = "SG.fake-key-for-tests.not-a-secret"


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the fake answered

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class _Reply:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    errors: list[dict[str, Any]] | None = None
    delay: float = 0.0


@lru_cache(maxsize=1)
def _validator() -> jsonschema.protocols.Validator:
    spec = copy.deepcopy(json.loads(SPEC_PATH.read_text()))
    body = spec["components"]["requestBodies"]["PostMailSend"]["content"]["application/json"]
    # Known quirk of the spec (see tests/specs/README.md): it types the top-level
    # custom_args as a string, while the API and the official Python library send an
    # object of string values. Widened to exactly that, and nothing more.
    body["schema"]["properties"]["custom_args"] = {
        "type": "object",
        "additionalProperties": {"type": "string"},
    }
    registry = Registry().with_resource(_SPEC_URI, Resource.from_contents(spec, default_specification=DRAFT202012))
    return jsonschema.Draft202012Validator(
        {"$ref": f"{_SPEC_URI}#{_BODY_POINTER}"},
        registry=registry,
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )


def validate_mail_send(payload: Any) -> list[dict[str, Any]]:
    """Problems with a /v3/mail/send body, as SendGrid-style `{"field", "message"}` errors."""
    errors = [
        {"field": ".".join(str(p) for p in e.absolute_path) or None, "message": e.message}
        for e in sorted(_validator().iter_errors(payload), key=lambda e: list(e.absolute_path))
    ]
    if not errors:
        errors = _documented_rules(payload)
    return errors


def _documented_rules(payload: dict[str, Any]) -> list[dict[str, Any]]:
    # Rules from SendGrid's documentation that the schema cannot express.
    errors = []
    if not payload["personalizations"]:
        errors.append({"field": "personalizations", "message": "at least one personalization is required"})
    for i, p in enumerate(payload["personalizations"]):
        addresses = [r["email"].lower() for kind in ("to", "cc", "bcc") for r in p.get(kind, [])]
        if len(addresses) > 1000:
            errors.append({"field": f"personalizations.{i}", "message": "more than 1000 recipients"})
        if len(set(addresses)) != len(addresses):
            errors.append(
                {
                    "field": f"personalizations.{i}",
                    "message": "Each email address in the personalization block should be "
                    "unique between to, cc, and bcc.",
                }
            )
        for key, value in {**p.get("headers", {}), **p.get("custom_args", {})}.items():
            if not isinstance(value, str):
                errors.append({"field": f"personalizations.{i}.{key}", "message": "must be a string"})
    for key, value in payload.get("headers", {}).items():
        if not isinstance(value, str):
            errors.append({"field": f"headers.{key}", "message": "header values must be strings"})
    types = [c["type"] for c in payload.get("content", [])]
    if "text/plain" in types and types[0] != "text/plain":
        errors.append({"field": "content", "message": "text/plain must come first"})
    return errors


class FakeSendGrid:
    host = "127.0.0.1"

    def __init__(self, api_key: str = DEFAULT_API_KEY) -> None:
        self.api_key = api_key
        self.payloads: list[dict[str, Any]] = []
        self.message_ids: list[str] = []
        self.requests: list[RecordedRequest] = []
        self._replies: deque[_Reply] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer((self.host, 0), _handler_for(self))
        self._server.daemon_threads = True
        self._server.block_on_close = False
        # A short poll interval: shutdown() waits up to one interval, in every test.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        """Base URL, as for Config.sendgrid_base_url (no /v3)."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> FakeSendGrid:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes delayed replies
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeSendGrid:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def queue(
        self,
        status: int,
        *,
        headers: dict[str, str] | None = None,
        errors: list[dict[str, Any]] | None = None,
        delay: float = 0.0,
    ) -> None:
        with self._lock:
            self._replies.append(_Reply(status, dict(headers or {}), errors, delay))

    def _next_reply(self) -> _Reply:
        with self._lock:
            return self._replies.popleft() if self._replies else _Reply(202)


def _handler_for(fake: FakeSendGrid) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # keep test output clean

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            reply = self._answer(body)
            # Recorded before replying: a test reads .requests as soon as its send returns.
            fake.requests.append(RecordedRequest("POST", self.path, dict(self.headers.items()), body, reply.status))
            if reply.delay and fake._stopping.wait(reply.delay):
                return
            self._send(reply)

        def _answer(self, body: bytes) -> _Reply:
            if self.path != MAIL_SEND_PATH:
                return _Reply(404, errors=[{"field": None, "message": "not found"}])
            if self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                message = "The provided authorization grant is invalid, expired, or revoked"
                return _Reply(401, errors=[{"field": None, "message": message}])
            try:
                payload = json.loads(body)
            except ValueError:
                return _Reply(400, errors=[{"field": None, "message": "Bad Request"}])
            if problems := validate_mail_send(payload):
                return _Reply(400, errors=problems)

            reply = fake._next_reply()
            if 200 <= reply.status < 300:
                message_id = secrets.token_urlsafe(16)
                fake.payloads.append(payload)
                fake.message_ids.append(message_id)
                return _Reply(reply.status, {"X-Message-Id": message_id, **reply.headers}, None, reply.delay)
            errors = reply.errors or [{"field": None, "message": HTTPStatus(reply.status).phrase}]
            return _Reply(reply.status, reply.headers, errors, reply.delay)

        def _send(self, reply: _Reply) -> None:
            data = json.dumps({"errors": reply.errors}).encode() if reply.errors else b""
            try:
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if data:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout tests)

    return Handler
