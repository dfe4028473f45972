"""The codec endpoint the Temporal UI (and `temporal --codec-endpoint`) calls to show
encrypted payloads decrypted, to ops who hold the API key. Temporal's remote codec
protocol: POST /codec/decode and /codec/encode with {"payloads": [...]} in protobuf JSON."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from relance.api.deps import Services, ServicesDep
from relance.api.schemas import ApiError, error_responses
from relance.platform.codec import ChainCodec, CompressionCodec, EncryptionCodec, parse_keys

router = APIRouter(tags=["codec"])


def _codec(svc: Services) -> ChainCodec:
    keys = svc.config.encryption_keys
    if keys is None:
        raise ApiError(404, "not_found", "payload encryption is not configured")
    # The workers' chain: large payloads are compressed before they are encrypted.
    return ChainCodec([CompressionCodec(), EncryptionCodec(parse_keys(keys.get_secret_value()))])


async def _apply(body: dict[str, Any], svc: Services, decode: bool) -> dict[str, Any]:
    try:
        payloads = json_format.ParseDict(body, Payloads())
    except json_format.ParseError as exc:
        raise ApiError(400, "invalid_payloads", str(exc), "payloads") from None
    codec = _codec(svc)
    try:
        result = await (codec.decode(payloads.payloads) if decode else codec.encode(payloads.payloads))
    except ValueError as exc:  # unknown key id, or a tampered payload
        raise ApiError(400, "cannot_decode", str(exc), "payloads") from None
    except Exception:  # cryptography's InvalidTag carries no message
        raise ApiError(400, "cannot_decode", "payload failed authentication", "payloads") from None
    return json_format.MessageToDict(Payloads(payloads=result))


@router.post("/codec/decode", responses=error_responses(400, 401, 404), summary="Decrypt payloads (Temporal codec)")
async def decode(svc: ServicesDep, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
    return await _apply(body, svc, decode=True)


@router.post("/codec/encode", responses=error_responses(400, 401, 404), summary="Encrypt payloads (Temporal codec)")
async def encode(svc: ServicesDep, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
    return await _apply(body, svc, decode=False)
