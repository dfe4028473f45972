"""Payload encryption: histories hold no PII in clear, workflows still run and replay with
the key, rotation keeps old payloads readable, and the codec endpoint decrypts for the UI."""

from __future__ import annotations

import base64
import os
from concurrent.futures import ThreadPoolExecutor

import pytest
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.worker import Replayer

from activities.transports.outbox import OutboxTransport
from relance.client import RelanceClient
from relance.platform.codec import EncryptionCodec, InvalidKeys, parse_keys
from relance.platform.temporal_client import DATA_CONVERTER, converter_for
from relance.storage.database import get_engine
from tests.api.test_api import http_for
from tests.support.events import customer, event, invoice
from worker.main import WORKFLOWS, build_worker
from worker.sandbox import SANDBOX


def key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


async def test_encrypted_lifecycle_history_and_replay(time_env, config, sqlite_url) -> None:
    keys = f"k1:{key()}"
    config = config.model_copy(update={"encryption_keys": SecretStr(keys)})
    converter = converter_for(config)
    client = Client(time_env.client.service_client, namespace="default", data_converter=converter)
    worker = build_worker(
        client,
        config,
        engine=get_engine(sqlite_url),
        transport=OutboxTransport(config.resolved_outbox_dir()),
        executor=ThreadPoolExecutor(8),
    )
    relance = RelanceClient(client, config.task_queue)
    async with worker:
        now = await time_env.get_current_time()
        await relance.send(
            event("customer.created", customer("cus_enc", email="secret.person@example.org"), created=now)
        )
        obj = invoice("in_enc1", "cus_enc", status="paid", collection_method="charge_automatically")
        await relance.send(event("invoice.paid", obj, created=now))
        handle = client.get_workflow_handle("invoice-in_enc1")
        assert await handle.result() == "paid"
        history = await handle.fetch_history()
        raw = await time_env.client.get_workflow_handle("customer-cus_enc").fetch_history()
        await client.get_workflow_handle("customer-cus_enc").terminate()
    assert b"secret.person" not in raw.to_json().encode() and b"Ada Lovelace" not in history.to_json().encode()
    started = history.events[0].workflow_execution_started_event_attributes
    assert started.input.payloads[0].metadata["encoding"] == b"binary/encrypted"
    await Replayer(workflows=WORKFLOWS, data_converter=converter, workflow_runner=SANDBOX).replay_workflow(history)
    # Without the keys the worker cannot even decode the workflow's input.
    with pytest.raises(RuntimeError, match="Unknown payload encoding binary/encrypted"):
        await Replayer(workflows=WORKFLOWS, data_converter=DATA_CONVERTER, workflow_runner=SANDBOX).replay_workflow(
            history
        )


async def test_rotation_and_bad_keys() -> None:
    old, new = f"k1:{key()}", f"k2:{key()}"
    from temporalio.api.common.v1 import Payload

    sealed = await EncryptionCodec(parse_keys(old)).encode([Payload(metadata={"encoding": b"json/plain"}, data=b"{}")])
    rotated = EncryptionCodec(parse_keys(f"{new},{old}"))
    assert (await rotated.decode(sealed))[0].data == b"{}"
    assert (await rotated.encode(sealed))[0].metadata["encryption-key-id"] == b"k2"
    with pytest.raises(ValueError, match="unknown key"):
        await EncryptionCodec(parse_keys(new)).decode(sealed)
    for bad in ("", "k1", "k1:notbase64!", f"k1:{base64.b64encode(b'short').decode()}"):
        with pytest.raises(InvalidKeys):
            parse_keys(bad)


async def test_codec_endpoint_for_the_temporal_ui(harness) -> None:
    from google.protobuf import json_format
    from temporalio.api.common.v1 import Payload, Payloads

    from relance.api import create_app

    keys = f"k1:{key()}"
    cfg = harness.config.model_copy(update={"api_key": SecretStr("k"), "encryption_keys": SecretStr(keys)})
    sealed = await EncryptionCodec(parse_keys(keys)).encode(
        [Payload(metadata={"encoding": b"json/plain"}, data=b'"hello"')]
    )
    body = json_format.MessageToDict(Payloads(payloads=sealed))
    async with http_for(create_app(cfg, harness.engine, harness.client), key="k") as http:
        r = await http.post("/codec/decode", json=body)
        assert r.status_code == 200
        assert base64.b64decode(r.json()["payloads"][0]["data"]) == b'"hello"'
        assert (await http.post("/codec/decode", json={"payloads": "x"})).status_code == 400
    async with http_for(create_app(cfg, harness.engine, harness.client), key="wrong") as http:
        assert (await http.post("/codec/decode", json=body)).status_code == 401
