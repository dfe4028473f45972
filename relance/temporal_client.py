"""Connecting to Temporal the same way everywhere (client, worker, CLI, simulator):
same data converter, same TLS / API-key handling."""

from __future__ import annotations

import dataclasses
import logging

from temporalio.client import Client
from temporalio.runtime import LogForwardingConfig, LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import TLSConfig

from relance.codec import CompressionCodec
from relance.config import Config

# Pydantic models in, zlib for the rare large payload (relance.codec.CompressionCodec).
DATA_CONVERTER = dataclasses.replace(pydantic_data_converter, payload_codec=CompressionCodec())

_runtime: Runtime | None = None


def runtime() -> Runtime:
    """The SDK core logs to stdout by default, which would corrupt `--json` output: forward
    its logs to Python logging (stderr) instead, warnings and up."""
    global _runtime
    if _runtime is None:
        _runtime = Runtime(
            telemetry=TelemetryConfig(
                logging=LoggingConfig(
                    filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
                    forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
                )
            )
        )
    return _runtime


def tls_config(config: Config) -> TLSConfig | bool:
    if not (config.temporal_tls or config.temporal_tls_client_cert or config.temporal_api_key):
        return False
    read = lambda p: p.read_bytes() if p else None  # noqa: E731
    if not (config.temporal_tls_client_cert or config.temporal_tls_server_ca):
        return True  # system roots, e.g. Temporal Cloud with an API key
    return TLSConfig(
        server_root_ca_cert=read(config.temporal_tls_server_ca),
        client_cert=read(config.temporal_tls_client_cert),
        client_private_key=read(config.temporal_tls_client_key),
    )


def converter_for(config: Config):
    """The data converter every Relance process uses: pydantic and compression, plus the
    encryption codec when keys are configured."""
    from relance.codec import data_converter

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
