"""The HTTP API against its own OpenAPI document, property-based (schemathesis + Hypothesis).

For every documented operation, in two generation modes (positive: requests the schema
allows, plus the schema's own examples; negative: requests it forbids), schemathesis
generates requests; each goes through httpx's ASGI transport to an app from `create_app`
(`app_for`), wired to the `harness` (a real worker on the test's time-skipping server,
SQLite and the outbox), with the Bearer key. The app is asked for /openapi.json and that
document is what the requests are generated from. Every response must:

- not be a 5xx (not_a_server_error),
- have a status code the operation documents (status_code_conformance),
- have a documented content type (content_type_conformance),
- match the documented body schema (response_schema_conformance) and headers
  (response_headers_conformance).

The webhook receivers have no signature here, so they answer 400, which they document.
The codec routes run both without payload encryption configured (the default) and with
a key, so that generation reaches the decoder.

Hypothesis runs in a worker thread and hands each request to the test's event loop, the
one the harness's Temporal client and worker live on, so the worker keeps running while a
request waits on it (PUT /v1/customers waits to see its change applied).

Bounded and reproducible: `derandomize=True`, no example database (and Hypothesis caches
go to the temp dir, not the checkout), MAX_EXAMPLES per operation and mode, REQUEST_TIMEOUT
per request. A failure names the operation and prints the (shrunk) request as curl.

Contract gaps already reported are in KNOWN: a response that fails the checks only in a
known way is recorded, generation goes on (so it cannot hide a new failure), and the
test ends as xfail naming them. Anything else fails the test.
"""

from __future__ import annotations

import asyncio
import base64
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.configuration import set_hypothesis_home_dir
from pydantic import SecretStr
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import create_engine

from relance.api import create_app
from relance.client import RelanceClient
from relance.platform.config import Config
from tests.api.test_api import KEY, app_for
from tests.support.events import event, invoice
from tests.support.harness import Harness

BASE_URL = "http://relance.test"
MAX_EXAMPLES = 15
REQUEST_TIMEOUT = 20.0  # seconds; above the app's apply_wait (10 s in app_for)
ENCRYPTION_KEYS = SecretStr("k1:" + base64.b64encode(bytes(range(32))).decode())

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]

# Hypothesis keeps caches (constants, unicode data) in ./.hypothesis even without an example
# database: keep them out of the checkout unless HYPOTHESIS_STORAGE_DIRECTORY says otherwise.
if not os.getenv("HYPOTHESIS_STORAGE_DIRECTORY"):
    set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "relance-hypothesis")

HYPOTHESIS = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,  # time per request is bounded by REQUEST_TIMEOUT instead: no flaky deadline re-runs
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)


# ---- known contract gaps (outside this file) --------------------------------------------


# Contract gaps known and accepted: (reason, matcher). Empty: out-of-range timestamps, which
# the fuzzing can draw, get a 400 (relance/contracts/events.py), pinned by the test below.
KNOWN: list[tuple[str, Callable[[str, requests.PreparedRequest, httpx.Response, tuple[Failure, ...]], bool]]] = []


def _known(
    label: str, request: requests.PreparedRequest, response: httpx.Response, failures: tuple[Failure, ...]
) -> str | None:
    for reason, matches in KNOWN:
        if matches(label, request, response, failures):
            return reason
    return None


# ---- parametrization ----------------------------------------------------------------------


def _documented_operations() -> dict[str, bool]:
    """`METHOD path` -> whether it takes any input (parameters or a body) for negative
    generation to break, from the app's OpenAPI document at collection time (building it
    touches neither the database nor Temporal). Each test loads the document the
    harness-wired app serves at /openapi.json."""
    no_client = cast(RelanceClient, None)  # building the document calls no route
    app = create_app(
        Config(state_dir=Path("/nonexistent/relance-openapi"), _env_file=None), create_engine("sqlite://"), no_client
    )
    return {
        f"{method.upper()} {path}": bool(op.get("parameters") or op.get("requestBody"))
        for path, ops in app.openapi()["paths"].items()
        for method, op in ops.items()
    }


def _params() -> list[Any]:
    params = []
    for label, has_input in _documented_operations().items():
        for mode in ("positive", "negative") if has_input else ("positive",):
            for keyed in (False, True) if label.startswith("POST /codec/") else (False,):
                suffix = ", encryption configured" if keyed else ""
                params.append(pytest.param(label, mode, keyed, id=f"{label} [{mode}{suffix}]"))
    return params


# ---- the test -----------------------------------------------------------------------------


def _track(h: Harness, response: httpx.Response) -> None:
    """Let the harness terminate whatever workflows a response says it started."""
    if not response.headers.get("content-type", "").startswith("application/json"):
        return
    try:
        body = response.json()
    except ValueError:
        return
    if not isinstance(body, dict):
        return
    for accepted in body["events"] if isinstance(body.get("events"), list) else []:
        if isinstance(accepted, dict) and isinstance(accepted.get("workflow_id"), str):
            h.workflow_ids.add(accepted["workflow_id"])
    if isinstance(body.get("workflow_id"), str):
        h.workflow_ids.add(body["workflow_id"])


def _as_wire(case: schemathesis.Case) -> tuple[dict[str, Any], requests.PreparedRequest]:
    """The request exactly as schemathesis's own transport would serialize it, key included."""
    kwargs = case.as_transport_kwargs(base_url=BASE_URL, headers={"Authorization": f"Bearer {KEY}"})
    fields = {
        k: v
        for k, v in kwargs.items()
        if k in ("method", "url", "headers", "files", "data", "params", "auth", "cookies", "json")
    }
    return kwargs, requests.Request(**fields).prepare()


def _curl(case: schemathesis.Case, prepared: requests.PreparedRequest) -> str:
    """The request as sent, as a curl command (the key shows as [Filtered]: use KEY)."""
    return case.as_curl_command(headers=dict(prepared.headers), base_url=BASE_URL)


@pytest.mark.parametrize(("label", "mode", "keyed"), _params())
async def test_every_operation_honours_its_documented_contract(
    harness: Harness, label: str, mode: str, keyed: bool
) -> None:
    h = harness
    app = app_for(h, encryption_keys=ENCRYPTION_KEYS if keyed else None)
    # raise_app_exceptions=False: an unhandled error comes back as the 500 a client would
    # see, and is reported like any other failed check, with the request that caused it.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        r = await http.get("/openapi.json")
        assert r.status_code == 200, r.text
        schema = schemathesis.openapi.from_dict(r.json())
        method, path = label.split(" ", 1)
        operation = schema[path][method]
        loop = asyncio.get_running_loop()

        async def send(prepared: requests.PreparedRequest) -> httpx.Response:
            # As bytes, the way httpx encodes str names and values (ASCII): requests' headers mix both.
            headers = [
                (k.encode("ascii"), v if isinstance(v, bytes) else v.encode("ascii"))
                for k, v in prepared.headers.items()
                if k.lower() != "content-length"
            ]
            body = prepared.body.encode() if isinstance(prepared.body, str) else prepared.body
            assert body is None or isinstance(body, bytes)
            response = await asyncio.wait_for(
                http.request(prepared.method or "GET", prepared.url or "/", headers=headers, content=body),
                REQUEST_TIMEOUT,
            )
            _track(h, response)
            return response

        sent: list[int] = []
        known: dict[str, str] = {}  # reason -> the shortest request that showed it, as curl

        def check(case: schemathesis.Case) -> None:
            kwargs, prepared = _as_wire(case)
            future = asyncio.run_coroutine_threadsafe(send(prepared), loop)
            try:
                response = future.result(REQUEST_TIMEOUT + 5)
            except TimeoutError:
                future.cancel()
                raise AssertionError(
                    f"{label}: no response within {REQUEST_TIMEOUT:.0f}s to\n{_curl(case, prepared)}"
                ) from None
            sent.append(response.status_code)
            try:
                case.validate_response(response, checks=CHECKS, headers=dict(prepared.headers), transport_kwargs=kwargs)
            except FailureGroup as group:
                reason = _known(label, prepared, response, group.exceptions)
                if reason is None:
                    raise
                curl = _curl(case, prepared)
                if reason not in known or len(curl) < len(known[reason]):
                    known[reason] = curl  # the shortest request that showed it

        if mode == "positive":
            strategies = [
                *operation.get_strategies_from_examples(),
                operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
            ]
        else:
            strategies = [operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)]
        for strategy in strategies:
            # One run per strategy: each schema example is sent, then MAX_EXAMPLES generated ones.
            examples = 1 if strategy is not strategies[-1] else MAX_EXAMPLES
            run = settings(HYPOTHESIS, max_examples=examples)(given(case=strategy)(check))
            await asyncio.to_thread(run)

    assert sent, f"{label} [{mode}]: schemathesis generated no requests"
    if known:
        pytest.xfail("\n".join(f"{reason}\n  e.g. {curl[:500]}" for reason, curl in known.items()))


# ---- out-of-range timestamps: a 400, never a 500 -------------------------------------------------


@pytest.mark.parametrize("field", ["created", "data.object.due_date"])
@pytest.mark.parametrize("value", [10**20, -(10**19), 1e300])
async def test_an_out_of_range_timestamp_is_refused_not_a_server_error(
    harness: Harness, field: str, value: int | float
) -> None:
    # The generated searches above may or may not draw such a number; this always does.
    body = event("invoice.finalized", invoice("in_st_ts", "cus_st_ts"))
    if field == "created":
        body["created"] = value
    else:
        body["data"]["object"]["due_date"] = value
    transport = httpx.ASGITransport(app=app_for(harness), raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url=BASE_URL, headers={"Authorization": f"Bearer {KEY}"}
    ) as http:
        r = await http.post("/v1/events", json=body)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["type"] == "invalid_event" and r.json()["error"]["field"] == field
