"""Sealing: hide a reasoning block from the client while letting it come back intact next turn.

A sealed token is `gg1.` followed by URL-safe base64 (no padding) of `nonce(12) || AES-256-GCM
ciphertext+tag`. The key is derived from the deployment secret with HKDF-SHA256, so the secret
itself is never used as a cipher key and other uses of the secret (account HMACs) stay separate.
The prefix lets guardgate tell its own tokens from genuine upstream data (Anthropic's
`redacted_thinking.data`, OpenAI's `encrypted_content`), which is left alone.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["SEAL_PREFIX", "SealError", "Sealer"]

SEAL_PREFIX = "gg1."
_NONCE_BYTES = 12
_TAG_BYTES = 16
# Bound what a client can make us decrypt in one token (reasoning traces are far below this).
_MAX_TOKEN_CHARS = 16 * 1024 * 1024
_AAD = b"guardgate sealed reasoning v1"


class SealError(ValueError):
    """A sealed token is malformed, tampered with, or was sealed by another deployment."""


class Sealer:
    """Seals and opens payloads with a key derived from the deployment secret."""

    def __init__(self, secret: bytes) -> None:
        if not secret:
            raise ValueError("the sealing secret must not be empty")
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"guardgate/seal/v1"
        ).derive(secret)
        self._aead = AESGCM(key)

    def seal(self, payload: bytes) -> str:
        """Encrypt and authenticate `payload`; the token is ASCII, safe in JSON strings."""
        nonce = os.urandom(_NONCE_BYTES)
        blob = nonce + self._aead.encrypt(nonce, payload, _AAD)
        return SEAL_PREFIX + base64.urlsafe_b64encode(blob).rstrip(b"=").decode("ascii")

    def open(self, token: str) -> bytes:
        """Decrypt a token made by `seal` with the same secret, or raise `SealError`."""
        if not self.is_sealed(token):
            raise SealError("not a guardgate sealed token")
        if len(token) > _MAX_TOKEN_CHARS:
            raise SealError("sealed token is too large")
        body = token[len(SEAL_PREFIX) :]
        try:
            blob = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError) as exc:
            raise SealError("sealed token is not valid base64") from exc
        if len(blob) < _NONCE_BYTES + _TAG_BYTES:
            raise SealError("sealed token is truncated")
        try:
            return self._aead.decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], _AAD)
        except InvalidTag as exc:
            raise SealError("sealed token was altered or sealed by another deployment") from exc

    @staticmethod
    def is_sealed(token: str) -> bool:
        """Whether a string is (meant to be) a guardgate token rather than upstream data."""
        return token.startswith(SEAL_PREFIX)
