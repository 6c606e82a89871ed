"""Coverage-guided fuzzing (atheris, optional, not run in CI) of the SSE decoder and the Chat,
Responses and Anthropic stream transforms under strip, on arbitrary bytes split at arbitrary
points. A crash is any exception escaping a decoder or transformer.

    pip install atheris
    python tests/fuzz/atheris_sse.py -atheris_runs=200000
"""

from __future__ import annotations

import asyncio
import sys

import atheris

with atheris.instrument_imports():
    from guardgate.hardening.sealing import Sealer
    from guardgate.hardening.summariser import LocalSummariser
    from guardgate.model import ApiKind, ReasoningPolicy
    from guardgate.protocols.reasoning import response_transformer
    from guardgate.protocols.sse import SSEFrameDecoder

SEALER = Sealer(b"atheris")
SUMMARISER = LocalSummariser()
APIS = list(ApiKind)


async def _transform(api: ApiKind, streaming: bool, chunks: list[bytes]) -> None:
    transformer = response_transformer(
        api, ReasoningPolicy.STRIP, streaming=streaming, sealer=SEALER, summariser=SUMMARISER
    )
    if transformer is None:
        return
    for chunk in chunks:
        await transformer.feed(chunk)
    await transformer.finish()


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    api = APIS[fdp.ConsumeIntInRange(0, len(APIS) - 1)]
    streaming = fdp.ConsumeBool()
    cuts = [fdp.ConsumeIntInRange(0, 4096) for _ in range(fdp.ConsumeIntInRange(0, 8))]
    body = fdp.ConsumeBytes(fdp.remaining_bytes())
    points = sorted(c % (len(body) + 1) for c in cuts)
    chunks = [body[a:b] for a, b in zip([0, *points], [*points, len(body)], strict=True)]
    decoder = SSEFrameDecoder()
    frames = [f for c in chunks for f in decoder.decode(c)] + decoder.flush()
    if b"".join(f.raw for f in frames) != body:
        raise AssertionError("the SSE decoder lost or reordered bytes")
    asyncio.run(_transform(api, streaming, chunks))


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
