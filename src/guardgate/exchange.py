"""One guarded request/response: read the body, decide, enforce, forward, transform, settle.

`GuardgateMiddleware` makes one `Exchange` per request to an LLM endpoint; all per-request state
lives here, never on the middleware.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Coroutine, Generator
from types import CoroutineType
from typing import TYPE_CHECKING, Any

import orjson
from starlette.types import Message, Receive, Scope, Send

from guardgate.hardening.fail_closed import TransformState
from guardgate.hardening.sealing import SEAL_PREFIX, SealError
from guardgate.model import ApiKind, Decision, FailMode, ReasoningPolicy, Tier, Verdict
from guardgate.protocols.endpoints import error_body
from guardgate.protocols.reasoning import ResponseTransformer, response_transformer, rewrite_request
from guardgate.protocols.reasoning_base import UnreadableAnswer
from guardgate.protocols.routes import alias_api
from guardgate.quota import QuotaTicket
from guardgate.usage import Usage, UsageMeter

if TYPE_CHECKING:
    from guardgate.middleware import GuardgateMiddleware

logger = logging.getLogger("guardgate")
audit = logging.getLogger("guardgate.audit")

_JSON_HEADERS = [(b"content-type", b"application/json")]
_PENDING: set[asyncio.Future[None]] = set()
"""Settlements in flight, held so that a cancelled exchange's settlement is not collected."""
_SEALED = SEAL_PREFIX.encode()
_REJECTED = {429: "rate_limited", 403: "blocked", 503: "unavailable"}
_PASS = ReasoningPolicy.PASS
"""Module constants: an enum member read through its class costs ~0.1 µs on Python 3.11."""
_parse_json = orjson.loads
"""The request body's parser: orjson reads bytes (validating UTF-8) in a third of the json
module's time on a short request and under half on a long conversation."""


async def send_error(
    send: Send,
    api: ApiKind,
    status: int,
    message: str,
    headers: tuple[tuple[str, str], ...] = (),
) -> None:
    """Answer with an error in the provider's own format for `api`."""
    body = error_body(api, status, message)
    raw = [
        *_JSON_HEADERS,
        (b"content-length", str(len(body)).encode()),
        *((k.encode("latin-1"), v.encode("latin-1")) for k, v in headers),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class Exchange:
    """The state of one guarded request/response (never stored on the middleware)."""

    __slots__ = (
        "api",
        "chunked",
        "decision",
        "headers",
        "held",
        "meter",
        "mw",
        "prompt_tokens",
        "receive",
        "scope",
        "send",
        "think_open",
        "ticket",
        "transform_state",
        "transformer",
        "verdict",
    )

    def __init__(
        self, mw: GuardgateMiddleware, api: ApiKind, scope: Scope, receive: Receive, send: Send
    ) -> None:
        self.mw = mw
        self.api = api
        self.scope = scope
        self.receive = receive
        self.send = send
        self.transformer: ResponseTransformer | None = None
        self.transform_state = TransformState()
        """Fail-closed bookkeeping of the response transform (hardening/fail_closed.py)."""
        self.decision: Decision | None = None
        self.think_open = False
        self.verdict: Verdict | None = None
        self.ticket: QuotaTicket | None = None
        self.meter: UsageMeter | None = None
        self.held: list[bytes] | None = None
        """A JSON answer's chunks, held for the detector process to read its usage."""
        self.prompt_tokens = 0
        self.chunked = False
        """The request came with `Transfer-Encoding` (its body is replayed whole, unchunked)."""
        self.headers: list[tuple[bytes, bytes]] = scope["headers"]
        """The headers the account is read from (query-string keys appended)."""

    async def run(self) -> None:
        body = await self._read_body()
        if body is None:
            return
        started = time.perf_counter()
        # Identity is the one credential the upstream authenticates (signals/credentials.py).
        self.headers = self.mw.credentials.headers(self.scope)
        problem = self.mw.credentials.read(self.headers).problem
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
        if self.scope["path"] in self.mw.routes.aliases:  # e.g. /invocations: the body says
            api = alias_api(data)
            if api is None:
                await send_error(self.send, self.api, 404, "This request format is not served.")
                return
            self.api = api

        scope = self.scope
        client = scope.get("client")
        peer = client[0] if client else ""
        try:
            decision = self.mw.guard.admit_now(self.api, self.headers, peer, body or b"{}")
        except Exception:
            decision = await self._engine_failed()
            if decision is None:
                return
        else:
            if decision is None:
                decision = await self._decide(data, body or b"{}", peer)
                if decision is None:
                    return
            else:
                self.verdict = decision.verdict
        try:
            await self._respond(body, data, decision, started)
        finally:
            if self.verdict is not None and (
                self.decision is None or self.decision.reject_status is None
            ):
                await self._settle()

    async def _respond(
        self, body: bytes, data: dict[str, Any], decision: Decision, started: float
    ) -> None:
        mw = self.mw
        guard = mw.guard
        tier = decision.verdict.tier  # a StrEnum: its own label value
        if guard.shadow:
            if decision.actions:
                _audit(decision, shadow=True)
                would = _would(decision)
                if would:
                    mw.metrics.shadow_would(would, tier._value_)
            # Shadow changes nothing, but reasoning sealed while enforcing must still be restored.
            decision = Decision(verdict=decision.verdict)
        self.decision = decision
        if decision.reject_status is not None:
            _audit(decision, shadow=False)
            status = decision.reject_status
            if status == 429:
                mw.metrics.rate_limited(self.api.value, decision.limit or "unknown")
            mw.metrics.request(self.api, tier, _REJECTED.get(status, "rejected"))
            headers = decision.rate_limit_headers
            if decision.retry_after is not None:
                headers = (("retry-after", str(max(1, round(decision.retry_after)))), *headers)
            await send_error(self.send, self.api, status, decision.reject_message, headers)
            return

        policy = decision.reasoning_policy
        rewritten = False
        if body and (policy is not _PASS or decision.drop_logprobs or _SEALED in body):
            try:
                data, changed = rewrite_request(
                    self.api,
                    data,
                    policy=policy,
                    sealer=guard.sealer,
                    drop_logprobs=decision.drop_logprobs,
                )
            except SealError as exc:
                await self._bad_request(f"Invalid reasoning block: {exc}")
                return
            if changed:
                body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
                rewritten = True
        if decision.actions and not guard.shadow:
            _audit(decision, shadow=False)
        if policy is not _PASS:
            self.think_open = mw.think_open_model(data.get("model")) or _prompt_opens_think(data)
        mw.metrics.request(self.api, tier, "shadow" if guard.shadow else "forwarded")
        mw.metrics.added_latency.observe(time.perf_counter() - started)
        await self._forward(body, policy, rewritten=rewritten)

    async def _bad_request(self, message: str) -> None:
        self.mw.metrics.request(self.api, None, "bad_request")
        await send_error(self.send, self.api, 400, message)

    async def _decide(self, data: dict[str, Any], body: bytes, peer: str) -> Decision | None:
        """The decision off the fast lane (`Guard.admit_request`: quotas, or no detector
        process), or None after answering 503 when it failed and the fail mode is closed."""
        try:
            decision, self.ticket, self.prompt_tokens = await self.mw.guard.admit_request(
                self.api, self.headers, peer, data, body
            )
        except Exception:
            return await self._engine_failed()
        self.verdict = decision.verdict
        return decision

    async def _engine_failed(self) -> Decision | None:
        """After the engine raised: the fail-open decision, or None after answering 503 (fail
        mode closed)."""
        self.mw.faults.record("engine", logger)
        if self.mw.settings.fail_mode is FailMode.CLOSED:
            await send_error(
                self.send, self.api, 503, "The service is temporarily unavailable; retry shortly."
            )
            return None
        return Decision(verdict=Verdict("", "", 0.0, Tier.NORMAL), actions=("fail_open",))

    async def _read_body(self) -> bytes | None:
        """The whole request body, or None after answering 413/408 or on a client disconnect."""
        settings = self.mw.settings
        limit = settings.max_body_bytes
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
                message, deadline = await _receive_by(
                    self.receive, deadline, settings.body_read_timeout
                )
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

    async def _forward(
        self, body: bytes, policy: ReasoningPolicy | None, *, rewritten: bool = False
    ) -> None:
        """Call the app with `body` replayed, transforming its response under `policy`."""
        scope = self.scope
        transform = policy is not None and policy is not _PASS
        # A transformed or metered response must arrive uncompressed.
        plain = transform or self.ticket is not None
        if rewritten or plain or self.chunked:
            headers: list[tuple[bytes, bytes]] = []
            for name, value in scope["headers"]:
                if name == b"content-length":
                    value = str(len(body)).encode()
                elif name == b"transfer-encoding" or (plain and name == b"accept-encoding"):
                    # A replayed body is not chunked.
                    continue
                headers.append((name, value))
            scope = {**scope, "headers": headers}
        receive = self.receive
        body_sent = False

        async def replay() -> Message:
            nonlocal body_sent
            if not body_sent:
                body_sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        downstream = self._send_transformed if transform else self.send
        if self.verdict is None:
            await self.mw.app(scope, replay, downstream)
            return

        def metered(message: Message) -> Awaitable[None]:
            # Not a coroutine of its own: the app awaits what `downstream` returns.
            self._watch(message)
            return downstream(message)

        await self.mw.app(scope, replay, metered)

    def _watch(self, message: Message) -> None:
        """Meter the upstream's answer as it passes (before any transform)."""
        try:
            if message["type"] == "http.response.body":
                if self.held is not None:
                    self.held.append(message.get("body", b""))
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
                    if message["status"] in (401, 403) and self.verdict is not None:
                        # A key the upstream refused keeps no state (issue 18, finding 4).
                        self.mw.guard.forget(self.verdict.account)
                        self.mw.metrics.forgotten("refused")
                    return
                streaming = content_type.startswith(b"text/event-stream")
                if not streaming and self.ticket is None and self.mw.guard.detector is not None:
                    # Only the metric wants this answer's usage: the detector reads it.
                    self.held = []
                    return
                # Without a quota to charge, completion tokens only feed the metric: the
                # upstream's own figures do, at a fraction of the parsing and counting.
                self.meter = UsageMeter(
                    self.api,
                    self.mw.guard.tokens,
                    streaming=streaming,
                    count=self.ticket is not None,
                )
        except Exception:
            self.mw.faults.record("usage", logger)
            self.meter = self.held = None

    async def _settle(self) -> None:
        """Charge what the answer cost and release its stream lease, even when the exchange was
        cancelled (a client disconnect): the work runs in its own task."""
        guard = self.mw.guard
        metrics = self.mw.metrics
        if self.held is not None:
            if guard.detector is not None:
                guard.detector.meter(self.api, self.held)
            if self.prompt_tokens:
                metrics.tokens("prompt", self.prompt_tokens)
            return
        try:
            usage = self.meter.finish() if self.meter is not None else Usage(0)
        except Exception:
            self.mw.faults.record("usage", logger)
            usage = Usage(0)
        metrics.tokens("prompt", self.prompt_tokens)
        metrics.tokens("completion", usage.completion_tokens)
        if self.ticket is None:
            return  # no quota to charge and no stream lease to release
        task = asyncio.ensure_future(guard.settle(self.ticket, usage))
        self.ticket = None
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
                    self.mw.faults.record("transform", logger)
                await state.refuse(self.send, self.api)
                return
            await state.release_start(self.send, out, more)
            if out or not more:
                await self.send({"type": "http.response.body", "body": out, "more_body": more})
            return
        await self.send(message)

    def _start_transform(self, message: Message) -> Message:
        decision = self.decision
        if decision is None or message["status"] != 200:
            return message
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
        guard = self.mw.guard
        self.transformer = response_transformer(
            self.api,
            decision.reasoning_policy,
            streaming=streaming,
            sealer=guard.sealer,
            summariser=guard.summariser,
            think_open=self.think_open,
            seal_chat_reasoning=self.mw.settings.seal_chat_reasoning,
            max_reasoning=self.mw.settings.reasoning_buffer_chars,
        )
        if self.transformer is None:
            return message
        self.mw.metrics.hardened(self.api._value_, decision.reasoning_policy._value_)
        headers = [(k, v) for k, v in message.get("headers", ()) if k != b"content-length"]
        return {**message, "headers": headers}


async def _receive_by(receive: Receive, deadline: float, within: float) -> tuple[Message, float]:
    """The next ASGI message, or TimeoutError past `deadline` (event-loop time; 0 for `within`
    seconds from the first wait), with the deadline in force.

    A message already there (a body that came with the headers: nearly every request) needs no
    timer, and a timer costs ~5 µs a request: the receive coroutine is stepped once, and only
    when it has to wait is the rest awaited under the deadline.
    """
    awaitable = receive()
    rest: Awaitable[Message] = awaitable
    if isinstance(awaitable, CoroutineType):
        try:
            waiting_on = awaitable.send(None)
        except StopIteration as done:
            message: Message = done.value
            return message, deadline
        rest = _Resumed(awaitable, waiting_on)
    if not deadline:
        deadline = asyncio.get_running_loop().time() + within
    async with asyncio.timeout_at(deadline):
        return await rest, deadline


class _Resumed:
    """Awaits a coroutine that was stepped once and is suspended on `waiting_on`: what
    `await` would do from there (`yield from` semantics, cancellation passed in)."""

    __slots__ = ("coro", "waiting_on")

    def __init__(self, coro: Coroutine[Any, Any, Message], waiting_on: Any) -> None:
        self.coro = coro
        self.waiting_on = waiting_on

    def __await__(self) -> Generator[Any, Any, Message]:
        coro = self.coro
        pending = self.waiting_on
        try:
            while True:
                try:
                    value = yield pending
                except GeneratorExit:
                    raise
                except BaseException as exc:
                    pending = coro.throw(exc)
                else:
                    pending = coro.send(value)
        except StopIteration as done:
            message: Message = done.value
            return message
        finally:
            coro.close()  # a no-op once it has returned or raised


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


def _would(decision: Decision) -> str:
    """What enforcing `decision` would have done (shadow mode's metric), or "" for nothing."""
    status = decision.reject_status
    if status is not None:
        return {429: "limited", 403: "blocked"}.get(status, "rejected")
    policy = decision.reasoning_policy
    if policy is ReasoningPolicy.STRIP:
        return "stripped"
    if policy is ReasoningPolicy.SUMMARISE:
        return "summarised"
    return ""


def _audit(decision: Decision, *, shadow: bool) -> None:
    verdict = decision.verdict
    line: dict[str, Any] = {
        "event": "decision",
        "shadow": shadow,
        "account": verdict.account,
        "cluster": verdict.cluster,
        "tier": verdict.tier.value,
        "score": round(verdict.score, 4),
        "actions": list(decision.actions),
    }
    if decision.limit:
        # A quota's 429: the limit that fired is the reason, not the detection's.
        line["limit"] = decision.limit
        line["reasons"] = [f"quota: {decision.limit.replace('_', ' ')} limit reached"]
    else:
        line["reasons"] = list(verdict.reasons)
    audit.info(json.dumps(line, separators=(",", ":")))
