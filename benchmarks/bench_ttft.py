"""Time to first answer token through the sidecar: direct to the mock upstream, and through a
sidecar whose reasoning policy is pass, strip or summarise, side by side in one run.

    python benchmarks/bench_ttft.py [--streams 50] [--chunk-delay 0.005] [--formats chat,...]

Each target runs in its own process (see `targets.py`). The mock streams its reasoning first, then
the answer, one event every `--chunk-delay` seconds; the clock stops at the first answer token the
client can see (a `content` delta outside any think span, an `output_text` delta, a `text_delta`).
Cases are interleaved round by round so that drift on a shared machine hits them all alike.
Prints median, p90 and spread (p10..p90) per case, and each case's median over pass's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
from bench_gateway import target

from guardgate.protocols.sse import SSEDecoder, SSEEvent

PROMPT = "Explain step by step how to compute 17 times 23."


@dataclass(frozen=True)
class Format:
    """One wire format: where to post, what, and how to spot the first answer token."""

    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    answer_started: Callable[[list[SSEEvent], str], tuple[bool, str]]


def _chat_content(events: list[SSEEvent], seen: str) -> tuple[bool, str]:
    """Content so far (`seen`) plus these events; started once text shows outside a think span."""
    for event in events:
        if not event.data.startswith("{"):
            continue
        for choice in json.loads(event.data).get("choices") or []:
            seen += (choice.get("delta") or {}).get("content") or choice.get("text") or ""
    text = seen.lstrip()
    if "</think>" in text:
        visible = text.rpartition("</think>")[2]
    elif text.startswith("<think>") or "<think>".startswith(text):
        visible = ""  # inside a think span, or what may still become one
    else:
        visible = text
    return bool(visible.strip()), seen


def _typed(kind: str) -> Callable[[list[SSEEvent], str], tuple[bool, str]]:
    marker = f'"type":"{kind}"'

    def started(events: list[SSEEvent], seen: str) -> tuple[bool, str]:
        return any(marker in e.data.replace(" ", "") for e in events), seen

    return started


OPENAI = {"authorization": "Bearer sk-bench-0001"}
ANTHROPIC = {"x-api-key": "sk-ant-bench-0001", "anthropic-version": "2023-06-01"}
FORMATS = {
    "chat": Format(
        "/v1/chat/completions",
        {"model": "mock-reasoning-content", "messages": [{"role": "user", "content": PROMPT}]},
        OPENAI,
        _chat_content,
    ),
    "chat-plain": Format(
        "/v1/chat/completions",
        {"model": "gpt-4o", "messages": [{"role": "user", "content": PROMPT}]},
        OPENAI,
        _chat_content,
    ),
    "chat-think": Format(
        "/v1/chat/completions",
        {"model": "mock-think", "messages": [{"role": "user", "content": PROMPT}]},
        OPENAI,
        _chat_content,
    ),
    "responses": Format(
        "/v1/responses",
        {"model": "o4-mini", "input": PROMPT, "reasoning": {"summary": "auto"}},
        OPENAI,
        _typed("response.output_text.delta"),
    ),
    "anthropic": Format(
        "/v1/messages",
        {
            "model": "claude-mock-1",
            "max_tokens": 2048,
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "messages": [{"role": "user", "content": PROMPT}],
        },
        ANTHROPIC,
        _typed("text_delta"),
    ),
}


def first_answer_token(client: httpx.Client, fmt: Format, chunk_delay: float) -> float:
    """Seconds from sending one streaming request to its first answer token."""
    headers = {**fmt.headers, "x-mock-chunk-delay": str(chunk_delay)}
    decoder = SSEDecoder()
    seen = ""
    started = time.perf_counter()
    with client.stream("POST", fmt.path, json={**fmt.body, "stream": True}, headers=headers) as r:
        if r.status_code != 200:
            raise RuntimeError(f"{fmt.path}: {r.status_code} {r.read()!r}")
        for chunk in r.iter_raw():
            done, seen = fmt.answer_started(decoder.decode(chunk), seen)
            if done:
                return time.perf_counter() - started
    raise RuntimeError(f"{fmt.path}: the stream ended without an answer token")


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass(frozen=True)
class Case:
    name: str
    url: str


def _targets(stack: ExitStack) -> Iterator[Case]:
    mock = stack.enter_context(target("mock")).url
    yield Case("direct to mock", mock)
    for policy in ("pass", "strip", "summarise"):
        env = {"GUARDGATE_REASONING_POLICY_NORMAL": policy}
        yield Case(f"sidecar {policy}", stack.enter_context(target("sidecar", mock, env=env)).url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=50, help="streams per case and format")
    parser.add_argument("--chunk-delay", type=float, default=0.005)
    parser.add_argument("--formats", default=",".join(FORMATS))
    args = parser.parse_args()
    formats = [(name, FORMATS[name]) for name in args.formats.split(",")]
    with ExitStack() as stack:
        cases = list(_targets(stack))
        clients = {
            case.name: stack.enter_context(httpx.Client(base_url=case.url, timeout=30))
            for case in cases
        }
        times: dict[tuple[str, str], list[float]] = {}
        for case in cases:  # warm-up: connections, imports, caches
            for _, fmt in formats:
                first_answer_token(clients[case.name], fmt, args.chunk_delay)
        for _ in range(args.streams):
            for fname, fmt in formats:
                for case in cases:
                    ttft = first_answer_token(clients[case.name], fmt, args.chunk_delay)
                    times.setdefault((fname, case.name), []).append(ttft * 1000)
    header = f"{'median ms':>10}{'p90 ms':>9}{'p10..p90 ms':>16}{'/pass':>8}"
    print(f"\n{'format':<12}{'case':<18}{header}")
    for fname, _ in formats:
        base = statistics.median(times[(fname, "sidecar pass")])
        for case in cases:
            values = times[(fname, case.name)]
            median = statistics.median(values)
            p10, p90 = _quantile(values, 0.1), _quantile(values, 0.9)
            print(
                f"{fname:<12}{case.name:<18}{median:>10.1f}{p90:>9.1f}"
                f"{f'{p10:.1f}..{p90:.1f}':>16}{median / base:>8.3f}"
            )
    print(
        f"\n({args.streams} sequential streams per case and format, interleaved; mock chunk delay "
        f"{args.chunk_delay * 1000:.0f} ms; {os.cpu_count()} cores, shared)"
    )


if __name__ == "__main__":
    main()
