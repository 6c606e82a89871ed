"""Shared test harness for the reasoning transforms: run a body through a transformer whole, split
at every byte offset, or split at random points, and read the result as SSE events."""

from __future__ import annotations

import json
import re
from typing import Any

from guardgate.hardening.sealing import Sealer
from guardgate.hardening.summariser import LocalSummariser
from guardgate.model import ApiKind, ReasoningPolicy
from guardgate.protocols.reasoning import response_transformer
from guardgate.protocols.sse import SSEDecoder

SEALER = Sealer(b"test deployment secret")
SUMMARISER = LocalSummariser()
_TOKEN = re.compile(rb"gg1\.[A-Za-z0-9_-]+")


def sse(*events: tuple[str | None, dict[str, Any] | str]) -> bytes:
    """An event stream as a provider writes it (compact JSON, `\\n\\n` between events)."""
    out = []
    for name, data in events:
        text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
        out.append((f"event: {name}\n" if name else "") + f"data: {text}\n\n")
    return "".join(out).encode()


async def run(
    api: ApiKind,
    policy: ReasoningPolicy,
    chunks: list[bytes],
    *,
    streaming: bool,
    think_open: bool = False,
    seal_chat_reasoning: bool = False,
) -> bytes:
    """The bytes a client receives when the upstream sends `chunks`."""
    transformer = response_transformer(
        api,
        policy,
        streaming=streaming,
        sealer=SEALER,
        summariser=SUMMARISER,
        think_open=think_open,
        seal_chat_reasoning=seal_chat_reasoning,
    )
    assert transformer is not None
    out = [await transformer.feed(chunk) for chunk in chunks]
    out.append(await transformer.finish())
    return b"".join(out)


def split_points(body: bytes) -> list[list[bytes]]:
    """Every two-way split of `body`."""
    return [[body[:cut], body[cut:]] for cut in range(len(body) + 1)]


def chunks_at(body: bytes, cuts: list[int]) -> list[bytes]:
    """`body` cut at the given offsets (taken modulo its length)."""
    points = sorted({c % (len(body) + 1) for c in cuts})
    return [body[a:b] for a, b in zip([0, *points], [*points, len(body)], strict=True)]


async def assert_split_invariant(
    api: ApiKind,
    policy: ReasoningPolicy,
    body: bytes,
    *,
    streaming: bool,
    think_open: bool = False,
    seal_chat_reasoning: bool = False,
) -> bytes:
    """Run `body` whole and at every two-way split; all runs must give the same bytes (sealed
    tokens, which use a fresh nonce, are compared after opening)."""
    options: dict[str, Any] = {
        "streaming": streaming,
        "think_open": think_open,
        "seal_chat_reasoning": seal_chat_reasoning,
    }
    whole = await run(api, policy, [body], **options)
    for chunks in split_points(body):
        split = await run(api, policy, chunks, **options)
        assert normalise(split) == normalise(whole), len(chunks[0])
    return whole


def normalise(body: bytes) -> bytes:
    """Replace each sealed token by what it seals, so runs can be compared."""
    return _TOKEN.sub(lambda m: b"SEALED[" + SEALER.open(m.group().decode()) + b"]", body)


def events(body: bytes) -> list[tuple[str | None, Any]]:
    """(event name, parsed data) of every event; every data line must be JSON or `[DONE]`."""
    decoder = SSEDecoder()
    parsed = []
    for event in decoder.decode(body) + decoder.flush():
        parsed.append(
            (event.event, event.data if event.data == "[DONE]" else json.loads(event.data))
        )
    return parsed
