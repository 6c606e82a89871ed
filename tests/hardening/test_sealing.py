"""Sealing: round trip, tampering, other deployments, and what counts as a guardgate token."""

from __future__ import annotations

import pytest

from guardgate.hardening.sealing import SEAL_PREFIX, Sealer, SealError


def test_round_trip_and_tokens_differ_each_time() -> None:
    sealer = Sealer(b"deployment secret")
    payload = b'{"type":"thinking","thinking":"secret chain","signature":"sig=="}'
    first, second = sealer.seal(payload), sealer.seal(payload)
    assert first != second  # fresh nonce: equal traces are not linkable by their tokens
    assert sealer.open(first) == payload == sealer.open(second)
    assert first.startswith(SEAL_PREFIX) and first.isascii()
    assert b"secret chain" not in first.encode()


def test_another_secret_cannot_open() -> None:
    token = Sealer(b"deployment A").seal(b"payload")
    with pytest.raises(SealError, match="another deployment"):
        Sealer(b"deployment B").open(token)


@pytest.mark.parametrize("position", [5, 20, -3, -1])
def test_any_altered_character_is_refused(position: int) -> None:
    sealer = Sealer(b"k")
    token = sealer.seal(b"payload that matters")
    swapped = "A" if token[position] != "A" else "B"
    tampered = token[:position] + swapped + token[position + 1 :]
    with pytest.raises(SealError):
        sealer.open(tampered)


@pytest.mark.parametrize("token", ["gg1.", "gg1.!!!not base64", "gg1.AAAA", "plain", ""])
def test_malformed_tokens_raise_seal_error(token: str) -> None:
    with pytest.raises(SealError):
        Sealer(b"k").open(token)


def test_genuine_upstream_blobs_are_not_taken_for_sealed_ones() -> None:
    assert not Sealer.is_sealed("EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIw")
    assert not Sealer.is_sealed("gAAAAABoISQ24OyVRYbkYfukCFAgnEkHEt")
    assert Sealer.is_sealed(Sealer(b"k").seal(b"x"))
