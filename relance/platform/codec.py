"""Optional encryption of workflow payloads (AES-256-GCM), so the PII in events (names,
email addresses) is not stored in clear in Temporal's histories.

Keys: `RELANCE_ENCRYPTION_KEYS="k2:<base64 32 bytes>,k1:<base64 32 bytes>"`: the first
encrypts, all decrypt (rotation: put a new key first, keep the old ones until no history
needs them). Each payload records the id of the key it was encrypted with. The same codec
is used by the client, the worker, the simulator and the replayer, and served to the
Temporal UI by the API's codec endpoint for ops who hold the API key.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import zlib
from collections.abc import Sequence

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter, PayloadCodec

ENCODING = b"binary/encrypted"
ZLIB_ENCODING = b"binary/zlib"
# Payloads above this are compressed. Below it (nearly all of them) they stay plain JSON,
# readable in the Temporal UI as they are. An invoice with thousands of lines is the
# case this is for: its signal and its apply_invoice_event input carry the whole invoice.
COMPRESS_ABOVE = 64 * 1024


class InvalidKeys(ValueError):
    pass


def parse_keys(spec: str) -> list[tuple[str, bytes]]:
    keys = []
    for item in (p.strip() for p in spec.split(",") if p.strip()):
        key_id, sep, material = item.partition(":")
        if not sep or not key_id:
            raise InvalidKeys("expected id:base64key[,id:base64key...]")
        try:
            key = base64.b64decode(material, validate=True)
        except ValueError:
            raise InvalidKeys(f"key {key_id!r} is not base64") from None
        if len(key) != 32:
            raise InvalidKeys(f"key {key_id!r} must be 32 bytes (AES-256), got {len(key)}")
        keys.append((key_id, key))
    if not keys:
        raise InvalidKeys("no key given")
    return keys


class EncryptionCodec(PayloadCodec):
    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        self._current_id, current = keys[0]
        self._encrypt = AESGCM(current)
        self._by_id = {key_id.encode(): AESGCM(key) for key_id, key in keys}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for p in payloads:
            nonce = os.urandom(12)
            sealed = self._encrypt.encrypt(nonce, p.SerializeToString(), None)
            out.append(
                Payload(
                    metadata={"encoding": ENCODING, "encryption-key-id": self._current_id.encode()}, data=nonce + sealed
                )
            )
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for p in payloads:
            if p.metadata.get("encoding", b"") != ENCODING:
                out.append(p)  # written before encryption was turned on
                continue
            key_id = p.metadata.get("encryption-key-id", b"")
            cipher = self._by_id.get(key_id)
            if cipher is None:
                raise ValueError(f"payload encrypted with unknown key {key_id.decode(errors='replace')!r}")
            out.append(Payload.FromString(cipher.decrypt(p.data[:12], p.data[12:], None)))
        return out


class CompressionCodec(PayloadCodec):
    """zlib for large payloads, so a very long invoice stays far below Temporal's payload
    limits (warning at 512 KB, refusal at 2 MB) and its history stays small. Payloads
    written before (or below the threshold) pass through decoding untouched."""

    def __init__(self, threshold: int = COMPRESS_ABOVE) -> None:
        self.threshold = threshold

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for p in payloads:
            if p.ByteSize() <= self.threshold:
                out.append(p)
                continue
            out.append(Payload(metadata={"encoding": ZLIB_ENCODING}, data=zlib.compress(p.SerializeToString(), 6)))
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [
            Payload.FromString(zlib.decompress(p.data)) if p.metadata.get("encoding", b"") == ZLIB_ENCODING else p
            for p in payloads
        ]


class ChainCodec(PayloadCodec):
    """Codecs applied in order when encoding (compress, then encrypt) and in reverse
    when decoding."""

    def __init__(self, codecs: Sequence[PayloadCodec]) -> None:
        self.codecs = list(codecs)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = list(payloads)
        for codec in self.codecs:
            out = await codec.encode(out)
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = list(payloads)
        for codec in reversed(self.codecs):
            out = await codec.decode(out)
        return out


def data_converter(base: DataConverter, keys_spec: str | None) -> DataConverter:
    if not keys_spec:
        return base
    encryption = EncryptionCodec(parse_keys(keys_spec))
    codec = ChainCodec([base.payload_codec, encryption]) if base.payload_codec else encryption
    return dataclasses.replace(base, payload_codec=codec)
