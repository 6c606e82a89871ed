"""One guarded request/response: read the body, take it through the gate, enforce, forward,
transform, settle.

A door (the middleware) makes one `Exchange` per request to an LLM endpoint; all per-request state
lives here. What every exchange of one door shares (the app, the gate, the metrics, the hardening
parts) is a `Doorway`, built once; an exchange never reaches back into the door.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import logging
import time
from collections.abc import Awaitable, Collection
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from guardgate.deployment import Deployment
from guardgate.detection import GateRequest
from guardgate.gate import Admission
from guardgate.hardening.fail_closed import TransformState
from guardgate.hardening.sealing import SEAL_PREFIX, SealError
from guardgate.model import ApiKind, ReasoningPolicy
from guardgate.protocols.dialects import dialect_for
from guardgate.protocols.errors import send_error
from guardgate.protocols.reasoning import ResponseTransformer, response_transformer
from guardgate.protocols.reasoning_base import UnreadableAnswer
from guardgate.protocols.routes import alias_api
from guardgate.receive import receive_by, replaying
from guardgate.signals.credentials import CredentialReader
from guardgate.usage import Usage, UsageMeter

logger = logging.getLogger("guardgate")

_PENDING: set[asyncio.Future[None]] = set()
"""Settlements in flight, held so that a cancelled exchange's settlement is not collected."""
_SEALED = SEAL_PREFIX.encode()
_REJECTED = {429: "rate_limited", 403: "blocked", 503: "unavailable"}
_PASS = ReasoningPolicy.PASS
"""Module constants: an enum member read through its class costs ~0.1 µs on Python 3.11."""
_parse_json = orjson.loads
"""The request body's parser: orjson reads bytes (validating UTF-8) in a third of the json
module's time on a short request and under half on a long conversation."""
_NO_USAGE = Usage(0)


class ThinkOpenModels:
    """Which models' chat templates open `<think>` themselves (GUARDGATE_THINK_OPEN_MODELS)."""

    def __init__(self, patterns: list[str]) -> None:
        self._patterns = [p.lower() for p in patterns]
        self._known: dict[str, bool] = {}

    def __call__(self, model: object) -> bool:
        """Whether `model` is one of them."""
        if not isinstance(model, str):
            return False
        known = self._known.get(model)
        if known is None:
            known = any(fnmatch.fnmatchcase(model.lower(), p) for p in self._patterns)
            if len(self._known) < 4096:
                self._known[model] = known
        return known


class Doorway:
    """What every exchange of one door shares: the app behind it and the deployment's parts."""

    __slots__ = (
        "aliases",
        "app",
        "body_read_timeout",
        "credentials",
        "detection",
        "faults",
        "gate",
        "max_body_bytes",
        "max_reasoning",
        "meters_answers",
        "metrics",
        "observer",
        "seal_chat_reasoning",
        "sealer",
        "summariser",
        "think_open",
        "tokens",
    )

    def __init__(self, app: ASGIApp, deployment: Deployment, aliases: Collection[str] = ()) -> None:
        settings = deployment.settings
        self.app = app
        self.aliases = aliases
        """Paths whose request format the body tells (vLLM's /invocations)."""
        self.credentials = CredentialReader(settings.account_header)
        """Identity is the one credential the upstream authenticates (signals/credentials.py)."""
        self.gate = deployment.gate
        self.observer = deployment.observer
        self.detection = deployment.detection
        self.meters_answers = deployment.detection.meters_answers
        self.metrics = deployment.metrics
        self.faults = deployment.faults
        self.tokens = deployment.tokens
        self.sealer = deployment.sealer
        self.summariser = deployment.summariser
        self.max_body_bytes = settings.max_body_bytes
        self.max_reasoning = settings.reasoning_buffer_chars
        self.body_read_timeout = settings.body_read_timeout
        self.seal_chat_reasoning = settings.seal_chat_reasoning
        self.think_open = ThinkOpenModels(settings.think_open_models)


def _replayed_scope(scope: Scope, body: bytes, plain: bool) -> Scope:
    """`scope` with its headers fit for `body` replayed whole: its length, not chunked, and
    with `plain` no `accept-encoding` (a transformed or metered answer must come uncompressed)."""
    headers: list[tuple[bytes, bytes]] = []
    for name, value in scope["headers"]:
        if name == b"content-length":
            value = str(len(body)).encode()
        elif name == b"transfer-encoding" or (plain and name == b"accept-encoding"):
            continue
        headers.append((name, value))
    return {**scope, "headers": headers}


HELD_CHUNKS = 32
HELD_TAIL = 64 * 1024
"""A JSON answer held for the detector process to read its usage is kept as its last
`HELD_TAIL` bytes once it has come in `HELD_CHUNKS` chunks: the usage is written last (the
detector reads the last 16 KB of a longer answer), and a 200 MB answer must not be held whole."""


class Exchange:
    """The state of one guarded request/response."""

    __slots__ = (
        "admission",
        "api",
        "chunked",
        "door",
        "headers",
        "held",
        "meter",
        "receive",
        "scope",
        "send",
        "think_open",
        "transform_state",
        "transformer",
    )

    transform_state: TransformState
    """Fail-closed bookkeeping of the response transform (hardening/fail_closed.py), made
    only for an answer that is transformed (one object less a request otherwise)."""

    def __init__(
        self, door: Doorway, api: ApiKind, scope: Scope, receive: Receive, send: Send
    ) -> None:
        self.door = door
        self.api = api
        self.scope = scope
        self.receive = receive
        self.send = send
        self.transformer: ResponseTransformer | None = None
        self.admission: Admission | None = None
        self.think_open = False
        self.meter: UsageMeter | None = None
        self.held: list[bytes] | None = None
        """A JSON answer's chunks, held for the detector process to read its usage."""
        self.chunked = False
        """The request came with `Transfer-Encoding` (its body is replayed whole, unchunked)."""
        self.headers: list[tuple[bytes, bytes]] = scope["headers"]
        """The headers the account is read from (query-string keys appended)."""

    async def run(self) -> None:
        body = await self._read_body()
        if body is None:
            return
        started = time.perf_counter()
        door = self.door
        # Identity is the one credential the upstream authenticates (signals/credentials.py).
        # Read with the sender's other signals, worked out once per distinct header list and
        # peer (the gate's detection takes the sender from the request).
        scope = self.scope
        if scope.get("query_string"):  # a key may be in the query string (`?key=`)
            self.headers = door.credentials.headers(scope)
        client = scope.get("client")
        peer = client[0] if client else ""
        sender = door.observer.sender(self.headers, peer)
        problem = sender.credential_problem
        if problem is not None:
            await self._bad_request(problem)
            return
        readback = self.scope["method"] == "GET"  # a stored answer: judged like its POST
        try:
            # JSON in HTTP is UTF-8 (RFC 8259): a BOM, another encoding, invalid UTF-8 (lone
            # surrogates too), NaN or nesting deeper than 1,024 levels is a 400.
            data = {} if readback else _parse_json(body)
        except ValueError:
            # The body must be read to be guarded; what cannot be parsed cannot be judged, and
            # the provider would reject it too, so it never costs an upstream call.
            await self._bad_request("We could not parse the JSON body of your request.")
            return
        if not isinstance(data, dict):
            await self._bad_request("The request body must be a JSON object.")
            return
        if door.aliases and self.scope["path"] in door.aliases:  # /invocations: the body says
            api = alias_api(data)
            if api is None:
                await send_error(self.send, self.api, 404, "This request format is not served.")
                return
            self.api = api

        signalled = body or b"{}"  # a read-back's GET has no body
        gate = door.gate
        admission = gate.admit_now(self.api, sender, peer, signalled)
        if admission is None:
            admission = await gate.admit(
                GateRequest(self.api, self.headers, peer, signalled, data, sender)
            )
        self.admission = admission
        if admission.decision.reject_status is not None:
            await self._reject(admission)
            return
        try:
            await self._respond(body, data, admission, started)
        finally:
            await self._settle()

    async def restore_and_forward(self) -> None:
        """A request that is not judged but carries a conversation back to the upstream
        (Anthropic's `POST /v1/messages/count_tokens`, which checks thinking signatures as
        `/v1/messages` does): the sealed reasoning in it is restored as for the LLM endpoint (a
        forged or foreign token is a 400 before any upstream call), nothing else changes, and the
        answer passes as it comes."""
        body = await self._read_body()
        if body is None:
            return
        scope = self.scope
        rewritten = False
        if _SEALED in body:
            try:
                data = _parse_json(body)
            except ValueError:
                data = None  # not JSON: the upstream words its own 400
            if isinstance(data, dict):
                try:
                    rewritten = dialect_for(self.api).restore_sealed(data, self.door.sealer)
                except SealError as exc:
                    await self._bad_request(f"Invalid reasoning block: {exc}")
                    return
                if rewritten:
                    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
        if rewritten or self.chunked:
            scope = _replayed_scope(scope, body, plain=False)
        await self.door.app(scope, replaying(body, self.receive), self.send)

    async def _reject(self, admission: Admission) -> None:
        decision = admission.decision
        metrics = self.door.metrics
        status = decision.reject_status
        assert status is not None
        if status == 429:
            metrics.rate_limited(self.api.value, decision.limit or "unknown")
        tier = decision.verdict.tier if decision.verdict.account else None
        metrics.request(self.api, tier, _REJECTED.get(status, "rejected"))
        headers = decision.rate_limit_headers
        if decision.retry_after is not None:
            headers = (("retry-after", str(max(1, round(decision.retry_after)))), *headers)
        await send_error(self.send, self.api, status, decision.reject_message, headers)

    async def _respond(
        self, body: bytes, data: dict[str, Any], admission: Admission, started: float
    ) -> None:
        door = self.door
        decision = admission.decision
        policy = decision.reasoning_policy
        rewritten = False
        if body and (policy is not _PASS or decision.drop_logprobs or _SEALED in body):
            try:
                data, changed = dialect_for(self.api).rewrite_request(
                    data,
                    policy=policy,
                    sealer=door.sealer,
                    drop_logprobs=decision.drop_logprobs,
                )
            except SealError as exc:
                await self._bad_request(f"Invalid reasoning block: {exc}")
                return
            if changed:
                body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
                rewritten = True
        if policy is not _PASS:
            self.think_open = door.think_open(data.get("model")) or _prompt_opens_think(data)
        # The tier is a StrEnum: its own label value.
        door.metrics.request(
            self.api, decision.verdict.tier, "shadow" if admission.shadow else "forwarded"
        )
        door.metrics.added_latency.observe(time.perf_counter() - started)
        await self._forward(body, policy, rewritten=rewritten)

    async def _bad_request(self, message: str) -> None:
        self.door.metrics.request(self.api, None, "bad_request")
        await send_error(self.send, self.api, 400, message)

    async def _read_body(self) -> bytes | None:
        """The whole request body, or None after answering 413/408 or on a client disconnect."""
        door = self.door
        limit = door.max_body_bytes
        for name, value in self.scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > limit:
                    await self._too_large(limit)
                    return None
            elif name == b"transfer-encoding":
                self.chunked = True
        chunks: list[bytes] = []
        size = 0
        deadline = 0.0  # set when the first wait begins
        try:
            while True:
                message, deadline = await receive_by(self.receive, deadline, door.body_read_timeout)
                if message["type"] == "http.disconnect":
                    return None
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    await self._too_large(limit)
                    return None
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
        except TimeoutError:
            await send_error(
                self.send, self.api, 408, "Timed out waiting for the request body to arrive."
            )
            return None
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _too_large(self, limit: int) -> None:
        await send_error(
            self.send, self.api, 413, f"Request body too large: the limit is {limit} bytes."
        )

    async def _forward(self, body: bytes, policy: ReasoningPolicy, *, rewritten: bool) -> None:
        """Call the app with `body` replayed, transforming its response under `policy`."""
        scope = self.scope
        transform = policy is not _PASS
        admission = self.admission
        # A transformed or metered response must arrive uncompressed.
        plain = transform or (admission is not None and admission.ticket is not None)
        if rewritten or plain or self.chunked:
            scope = _replayed_scope(scope, body, plain)
        replay = replaying(body, self.receive)

        downstream: Send = self.send
        if transform:
            self.transform_state = TransformState()
            downstream = self._send_transformed

        def metered(message: Message) -> Awaitable[None]:
            # Not a coroutine of its own: the app awaits what `downstream` returns.
            self._watch(message)
            return downstream(message)

        await self.door.app(scope, replay, metered)

    def _watch(self, message: Message) -> None:
        """Meter the upstream's answer as it passes (before any transform)."""
        try:
            if message["type"] == "http.response.body":
                held = self.held
                if held is not None:
                    held.append(message.get("body", b""))
                    if len(held) >= HELD_CHUNKS:
                        self.held = [b"".join(held)[-HELD_TAIL:]]
                elif self.meter is not None:
                    self.meter.feed(message.get("body", b""))
            elif message["type"] == "http.response.start":
                content_type = b""
                for name, value in message.get("headers", ()):
                    if name == b"content-type":
                        content_type = value
                    elif name == b"content-encoding" and value not in (b"identity", b""):
                        return
                if message["status"] != 200:
                    if message["status"] in (401, 403) and self.admission is not None:
                        # A key the upstream refused keeps no state (issue 18, finding 4).
                        self.door.gate.forget(self.admission.decision.verdict.account)
                    return
                streaming = content_type.startswith(b"text/event-stream")
                ticket = self.admission.ticket if self.admission is not None else None
                if not streaming and ticket is None and self.door.meters_answers:
                    # Only the metric wants this answer's usage: the detector reads it.
                    self.held = []
                    return
                # Without a quota to charge, completion tokens only feed the metric: the
                # upstream's own figures do, at a fraction of the parsing and counting.
                self.meter = UsageMeter(
                    self.api, self.door.tokens, streaming=streaming, count=ticket is not None
                )
        except Exception:
            self.door.faults.record("usage", logger)
            self.meter = self.held = None

    async def _settle(self) -> None:
        """Charge what the answer cost and release its stream lease, even when the exchange was
        cancelled (a client disconnect): the work runs in its own task."""
        door = self.door
        admission = self.admission
        assert admission is not None
        metrics = door.metrics
        if self.held is not None:
            door.detection.meter(self.api, self.held)
            if admission.prompt_tokens:
                metrics.tokens("prompt", admission.prompt_tokens)
            return
        try:
            usage = self.meter.finish() if self.meter is not None else _NO_USAGE
        except Exception:
            door.faults.record("usage", logger)
            usage = _NO_USAGE
        metrics.tokens("prompt", admission.prompt_tokens)
        metrics.tokens("completion", usage.completion_tokens)
        if admission.ticket is None:
            return  # no quota to charge and no stream lease to release
        task = asyncio.ensure_future(door.gate.settle(admission, usage))
        _PENDING.add(task)
        task.add_done_callback(_PENDING.discard)
        await asyncio.shield(task)

    async def _send_transformed(self, message: Message) -> None:
        kind = message["type"]
        state = self.transform_state
        if state.closed:
            return  # the answer was refused (fail closed): the rest of it goes nowhere
        if kind == "http.response.start":
            message = self._start_transform(message)
            if state.hold_start(message, self.transformer):
                return  # a whole JSON body: its status waits until the body is transformed
        elif kind == "http.response.body" and self.transformer is not None:
            chunk: bytes = message.get("body", b"")
            more: bool = message.get("more_body", False)
            try:
                out = await self.transformer.feed(chunk)
                if not more:
                    out += await self.transformer.finish()
            except Exception as exc:
                # Never the raw answer (it may hold the trace): the provider's error instead.
                if not isinstance(exc, UnreadableAnswer):
                    self.door.faults.record("transform", logger)
                await state.refuse(self.send, self.api)
                return
            await state.release_start(self.send, out, more)
            if out or not more:
                await self.send({"type": "http.response.body", "body": out, "more_body": more})
            return
        await self.send(message)

    def _start_transform(self, message: Message) -> Message:
        admission = self.admission
        if admission is None or message["status"] != 200:
            return message
        decision = admission.decision
        content_type = b""
        encoded = False
        for name, value in message.get("headers", ()):
            if name == b"content-type":
                content_type = value
            elif name == b"content-encoding" and value not in (b"identity", b""):
                encoded = True
        streaming = content_type.startswith(b"text/event-stream")
        if encoded or not (streaming or content_type.startswith(b"application/json")):
            return message
        door = self.door
        self.transformer = response_transformer(
            self.api,
            decision.reasoning_policy,
            streaming=streaming,
            sealer=door.sealer,
            summariser=door.summariser,
            think_open=self.think_open,
            seal_chat_reasoning=door.seal_chat_reasoning,
            max_reasoning=door.max_reasoning,
        )
        if self.transformer is None:
            return message
        door.metrics.hardened(self.api._value_, decision.reasoning_policy._value_)
        headers = [(k, v) for k, v in message.get("headers", ()) if k != b"content-length"]
        return {**message, "headers": headers}


def _prompt_opens_think(data: dict[str, Any]) -> bool:
    """Whether the prompt ends inside a `<think>` (a prefill or a raw completion prompt), so the
    output starts as reasoning without an opening tag of its own."""
    tail: object = data.get("prompt")
    messages = data.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[-1], dict):
        tail = messages[-1].get("content")
        if isinstance(tail, list) and tail and isinstance(tail[-1], dict):
            tail = tail[-1].get("text")  # content parts: the last text part ends the prompt
    return isinstance(tail, str) and tail.rstrip().endswith("<think>")
