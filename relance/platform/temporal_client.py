"""Connecting to Temporal the same way everywhere (client, worker, CLI, simulator):
same data converter, same TLS / API-key handling."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)
from temporalio.service import TLSConfig

from relance.platform.codec import CompressionCodec
from relance.platform.config import Config, SettingError, parse_bind

# Pydantic models in, zlib for the rare large payload (relance.platform.codec.CompressionCodec).
DATA_CONVERTER = dataclasses.replace(pydantic_data_converter, payload_codec=CompressionCodec())

# The Python logger the SDK core's logs are forwarded to.
CORE_LOGGER = "temporalio.core"

_runtime: Runtime | None = None
_runtime_metrics: str | None = None


def build_runtime(metrics_bind: str | None = None) -> Runtime:
    """The SDK core logs to stdout by default, which would corrupt `--json` output: forward
    its logs to Python logging (stderr) instead, warnings and up. With `metrics_bind`, the
    core serves its own Prometheus endpoint (temporal_* metrics) there."""
    metrics = None
    if metrics_bind:
        host, port = parse_bind(metrics_bind)
        # The core wants a socket address: an IP, IPv6 in brackets.
        metrics = PrometheusConfig(bind_address=f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
    try:
        return Runtime(
            telemetry=TelemetryConfig(
                logging=LoggingConfig(
                    filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
                    forwarding=LogForwardingConfig(logger=logging.getLogger(CORE_LOGGER)),
                ),
                metrics=metrics,
            )
        )
    except ValueError as exc:  # "Failed starting Prometheus exporter: Address already in use"
        raise SettingError(
            f"RELANCE_TEMPORAL_METRICS_BIND={metrics_bind}: cannot serve the Temporal SDK's metrics there: {exc}"
        ) from None


def runtime(config: Config | None = None) -> Runtime:
    """The process's one SDK runtime, created by the first call. Long-running processes
    (worker, API, `relance dev`) make that call with their config
    (`relance.platform.metrics.serve_metrics`), so the SDK serves its metrics on
    RELANCE_TEMPORAL_METRICS_BIND; one-shot commands (`relance send`...) call it without
    and serve nothing, so they never collide with a worker's port on the same host."""
    global _runtime, _runtime_metrics
    wanted = config.temporal_metrics_bind if config is not None else None
    if _runtime is None:
        _runtime, _runtime_metrics = build_runtime(wanted), wanted
    elif wanted is not None and wanted != _runtime_metrics:
        # The core cannot add an exporter to a running runtime: a caller connected first.
        raise SettingError(
            f"RELANCE_TEMPORAL_METRICS_BIND={wanted}: this process's Temporal runtime was already "
            f"started {'on ' + _runtime_metrics if _runtime_metrics else 'without metrics'}"
        )
    return _runtime


class TLSSettingsError(ValueError):
    pass


def tls_config(config: Config) -> TLSConfig | bool:
    """TLS is on when asked for, or implied by any TLS setting or an API key (Temporal
    Cloud). With no CA, client certificate or server name, the system roots verify the
    server (Temporal Cloud)."""
    cert, key = config.temporal_tls_client_cert, config.temporal_tls_client_key
    if bool(cert) != bool(key):
        raise TLSSettingsError(
            "RELANCE_TEMPORAL_TLS_CLIENT_CERT and RELANCE_TEMPORAL_TLS_CLIENT_KEY go together (mTLS)"
        )
    if not (
        config.temporal_tls
        or cert
        or config.temporal_tls_server_ca
        or config.temporal_tls_server_name
        or config.temporal_api_key
    ):
        return False
    if not (cert or config.temporal_tls_server_ca or config.temporal_tls_server_name):
        return True

    def read(setting: str, path: Path | None) -> bytes | None:
        if path is None:
            return None
        try:
            return path.read_bytes()
        except OSError as exc:
            raise TLSSettingsError(f"RELANCE_{setting.upper()}: cannot read {path}: {exc.strerror}") from None

    return TLSConfig(
        server_root_ca_cert=read("temporal_tls_server_ca", config.temporal_tls_server_ca),
        domain=config.temporal_tls_server_name,
        client_cert=read("temporal_tls_client_cert", cert),
        client_private_key=read("temporal_tls_client_key", key),
    )


def connect_error_hint(config: Config, exc: BaseException) -> str:
    """What an operator should look at when connecting failed: TLS problems name the
    TLS settings, anything else the address."""
    detail = str(exc).removeprefix("Failed client connect: ")
    tls_words = ("certificate", "tls", "handshake", "alert")
    # A server that wants a client certificate refuses it after the TLS 1.3 handshake, and
    # the client sometimes reports only that the connection closed once it was made.
    try:
        tls_on = tls_config(config) is not False
    except TLSSettingsError:
        tls_on = True
    refused_after_tls = tls_on and "after connection" in detail
    if refused_after_tls or any(w in detail.lower() for w in tls_words):
        return (
            f"TLS with Temporal at {config.temporal_address} failed (check RELANCE_TEMPORAL_TLS_SERVER_CA, "
            f"RELANCE_TEMPORAL_TLS_SERVER_NAME, RELANCE_TEMPORAL_TLS_CLIENT_CERT/KEY): {detail}"
        )
    return f"cannot reach Temporal at {config.temporal_address}: {detail}"


def converter_for(config: Config) -> DataConverter:
    """The data converter every Relance process uses: pydantic and compression, plus the
    encryption codec when keys are configured."""
    from relance.platform.codec import data_converter

    keys = config.encryption_keys.get_secret_value() if config.encryption_keys else None
    return data_converter(DATA_CONVERTER, keys)


async def connect(config: Config, *, lazy: bool = False) -> Client:
    """lazy: connect on first use (and again after a failure), for servers such as the API
    that must start while Temporal is still coming up."""
    return await Client.connect(
        config.temporal_address,
        namespace=config.temporal_namespace,
        api_key=config.temporal_api_key.get_secret_value() if config.temporal_api_key else None,
        tls=tls_config(config),
        data_converter=converter_for(config),
        runtime=runtime(),
        lazy=lazy,
    )
