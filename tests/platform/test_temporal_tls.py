"""TLS, mTLS and API-key connections to Temporal, as far as a local server allows: the dev
server speaks no TLS, so a TLS-terminating proxy (tests/support/tls_proxy.py, trustme
certificates) stands in front of it, and every connection goes through
relance.platform.temporal_client.connect with the RELANCE_TEMPORAL_TLS_* settings."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import trustme
from pydantic import SecretStr
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest

from activities.transports.outbox import OutboxTransport
from relance.contracts.models import RetentionInput
from relance.platform.config import Config
from relance.platform.temporal_client import TLSSettingsError, connect, connect_error_hint, tls_config
from relance.storage.database import get_engine
from tests.support.devserver import DevServer
from tests.support.harness import unique_queue
from tests.support.tls_proxy import TlsProxy
from worker.main import build_worker
from workflows.retention import RetentionWorkflow

pytestmark = pytest.mark.devserver
ROOT = Path(__file__).resolve().parents[2]
RELANCE = str(Path(sys.executable).parent / "relance")


def pem(tmp_path: Path, name: str, blob: trustme.Blob) -> Path:
    path = tmp_path / name
    blob.write_to_path(str(path))
    return path


def settings(tmp_path: Path, address: str, **values) -> Config:
    return Config(
        state_dir=tmp_path / "state", temporal_address=address, task_queue=unique_queue(), _env_file=None, **values
    )


async def describe(config: Config) -> str:
    client = await asyncio.wait_for(connect(config), 30)
    info = await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace="default"))
    return info.namespace_info.name


async def refused(config: Config) -> str:
    with pytest.raises(RuntimeError) as caught:
        await asyncio.wait_for(connect(config), 30)
    return str(caught.value)


async def test_tls_with_a_private_ca_runs_a_workflow(dev_server: DevServer, tmp_path: Path, sqlite_url: str) -> None:
    ca = trustme.CA()
    with TlsProxy(("127.0.0.1", dev_server.port), ca) as proxy:
        config = settings(tmp_path, proxy.address, temporal_tls_server_ca=pem(tmp_path, "ca.pem", ca.cert_pem))
        client = await asyncio.wait_for(connect(config), 30)
        worker = build_worker(
            client,
            config,
            engine=get_engine(sqlite_url),
            transport=OutboxTransport(config.resolved_outbox_dir()),
            executor=ThreadPoolExecutor(4),
        )
        async with worker:
            # A real Relance workflow (the email log purge), through TLS both ways: the
            # client that starts it and the worker that runs it.
            purged = await client.execute_workflow(
                RetentionWorkflow.run,
                RetentionInput(days=30),
                id=f"tls-retention-{uuid.uuid4().hex[:8]}",
                task_queue=config.task_queue,
            )
        assert purged == 0  # a fresh database: nothing to purge, but the activity ran
        assert proxy.received, "the traffic went through the TLS proxy"


async def test_wrong_ca_is_refused_with_a_clear_error(dev_server: DevServer, tmp_path: Path) -> None:
    with TlsProxy(("127.0.0.1", dev_server.port), trustme.CA()) as proxy:
        stranger = pem(tmp_path, "other-ca.pem", trustme.CA().cert_pem)
        message = await refused(settings(tmp_path, proxy.address, temporal_tls_server_ca=stranger))
    assert "UnknownIssuer" in message, message


async def test_mtls_needs_the_client_certificate(dev_server: DevServer, tmp_path: Path) -> None:
    ca = trustme.CA()
    ca_file = pem(tmp_path, "ca.pem", ca.cert_pem)
    client_cert = ca.issue_cert("relance-worker")
    cert_file = pem(tmp_path, "client.pem", client_cert.cert_chain_pems[0])
    key_file = pem(tmp_path, "client.key", client_cert.private_key_pem)
    with TlsProxy(("127.0.0.1", dev_server.port), ca, require_client_cert=True) as proxy:
        with_cert = settings(
            tmp_path,
            proxy.address,
            temporal_tls_server_ca=ca_file,
            temporal_tls_client_cert=cert_file,
            temporal_tls_client_key=key_file,
        )
        assert await describe(with_cert) == "default"
        message = await refused(settings(tmp_path, proxy.address, temporal_tls_server_ca=ca_file))
        # The client learns of the refusal after its side of the TLS 1.3 handshake is done,
        # in hyper's background connection task: usually the request carries rustls's
        # "CertificateRequired" alert, but now and then (about 1 in 25 here) hyper cancels it
        # with a bare "connection closed" first. Either way it is refused; the proxy's side
        # below says why.
        assert "CertificateRequired" in message or "connection closed" in message, message
        # The proxy's thread records its side of the refused handshake, possibly after the
        # client has already given up: wait for it.
        for _ in range(100):
            if any("certificate" in e.lower() for e in proxy.handshake_errors):
                break
            await asyncio.sleep(0.1)
        assert any("certificate" in e.lower() for e in proxy.handshake_errors), proxy.handshake_errors


async def test_server_name_override_for_a_proxy(dev_server: DevServer, tmp_path: Path) -> None:
    """The certificate names temporal.internal, the client dials 127.0.0.1:
    RELANCE_TEMPORAL_TLS_SERVER_NAME says which name to expect."""
    ca = trustme.CA()
    ca_file = pem(tmp_path, "ca.pem", ca.cert_pem)
    with TlsProxy(("127.0.0.1", dev_server.port), ca, names=("temporal.internal",)) as proxy:
        message = await refused(settings(tmp_path, proxy.address, temporal_tls_server_ca=ca_file))
        assert "NotValidForName" in message, message
        named = settings(
            tmp_path, proxy.address, temporal_tls_server_ca=ca_file, temporal_tls_server_name="temporal.internal"
        )
        assert await describe(named) == "default"


async def test_api_key_goes_as_a_bearer_token_over_tls(dev_server: DevServer, tmp_path: Path) -> None:
    """Temporal Cloud's API-key auth: the key travels as `authorization: Bearer <key>` on
    every call, inside TLS (read back from the decrypted HTTP/2 stream)."""
    ca = trustme.CA()
    key = f"tk-{uuid.uuid4().hex}"
    with TlsProxy(("127.0.0.1", dev_server.port), ca) as proxy:
        config = settings(
            tmp_path,
            proxy.address,
            temporal_api_key=SecretStr(key),
            temporal_tls_server_ca=pem(tmp_path, "ca.pem", ca.cert_pem),
        )
        assert await describe(config) == "default"
        headers = proxy.request_headers()
    calls = [h for h in headers if h.get(":path", "").startswith("/temporal.api.workflowservice")]
    assert calls, headers
    assert all(h.get("authorization") == f"Bearer {key}" for h in calls), calls


def test_cli_names_the_tls_settings_when_the_handshake_fails(dev_server: DevServer, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELANCE_")}
    with TlsProxy(("127.0.0.1", dev_server.port), trustme.CA()) as proxy:
        env.update(
            RELANCE_STATE_DIR=str(tmp_path / "state"),
            RELANCE_TEMPORAL_ADDRESS=proxy.address,
            RELANCE_TEMPORAL_TLS_SERVER_CA=str(pem(tmp_path, "other-ca.pem", trustme.CA().cert_pem)),
        )
        result = subprocess.run(
            [RELANCE, "send", str(ROOT / "examples" / "invoice-finalized.json")],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
    assert result.returncode == 1, result.stderr
    assert "RELANCE_TEMPORAL_TLS_SERVER_CA" in result.stderr and "UnknownIssuer" in result.stderr, result.stderr
    env["RELANCE_TEMPORAL_TLS_CLIENT_CERT"] = env["RELANCE_TEMPORAL_TLS_SERVER_CA"]
    result = subprocess.run(
        [RELANCE, "send", str(ROOT / "examples" / "invoice-finalized.json")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 2 and "RELANCE_TEMPORAL_TLS_CLIENT_KEY" in result.stderr, result.stderr


def test_tls_settings_are_checked(tmp_path: Path) -> None:
    ca = pem(tmp_path, "ca.pem", trustme.CA().cert_pem)
    # A CA alone turns TLS on, without RELANCE_TEMPORAL_TLS=true.
    tls = tls_config(settings(tmp_path, "x:1", temporal_tls_server_ca=ca))
    assert not isinstance(tls, bool) and tls.server_root_ca_cert == ca.read_bytes()
    # Temporal Cloud with an API key: TLS with the system roots.
    assert tls_config(settings(tmp_path, "x:1", temporal_api_key=SecretStr("k"))) is True
    assert tls_config(settings(tmp_path, "x:1")) is False
    with pytest.raises(TLSSettingsError, match="RELANCE_TEMPORAL_TLS_CLIENT_KEY"):
        tls_config(settings(tmp_path, "x:1", temporal_tls_client_cert=ca))
    with pytest.raises(TLSSettingsError, match="RELANCE_TEMPORAL_TLS_SERVER_CA: cannot read"):
        tls_config(settings(tmp_path, "x:1", temporal_tls_server_ca=tmp_path / "missing.pem"))


def test_connect_error_hint_names_the_tls_settings(tmp_path: Path) -> None:
    ca = pem(tmp_path, "ca.pem", trustme.CA().cert_pem)
    closed = RuntimeError(
        "Failed client connect: `get_system_info` call error after connection: Status { code: "
        'Cancelled, message: "operation was canceled", source: Some(hyper::Error(Canceled, '
        '"connection closed")) }'
    )
    # With TLS on, a connection closed right after it was made is the server refusing the
    # client (no or wrong client certificate): point at the TLS settings, not the address.
    hint = connect_error_hint(settings(tmp_path, "temporal:7233", temporal_tls_server_ca=ca), closed)
    assert hint.startswith("TLS with Temporal at temporal:7233 failed") and "RELANCE_TEMPORAL_TLS_CLIENT_CERT" in hint
    assert "call error after connection" in hint  # the original detail is kept
    plain = connect_error_hint(settings(tmp_path, "temporal:7233"), closed)
    assert plain.startswith("cannot reach Temporal at temporal:7233")
    alert = RuntimeError("Failed client connect: tls handshake eof: received fatal alert: CertificateRequired")
    assert connect_error_hint(settings(tmp_path, "temporal:7233"), alert).startswith("TLS with Temporal")
