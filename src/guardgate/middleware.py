"""`GuardgateMiddleware`: the pure-ASGI door in front of an LLM API.

For POST requests to the LLM endpoints it reads the body once, asks the engine for a verdict,
enforces the decision before the app is called (a rejected request never costs an upstream
call), replays the (possibly rewritten) body to the app and transforms the response on its way
out. Every other request, and every non-HTTP scope, passes straight through.
"""

from __future__ import annotations

import fnmatch
import json
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from guardgate.admin.app import AdminApp
from guardgate.audit_log import configure_audit_log
from guardgate.exchange import Exchange, send_error
from guardgate.faults import FaultCounter
from guardgate.guard import Guard
from guardgate.metrics import Metrics
from guardgate.metrics_endpoint import MetricsEndpoint
from guardgate.model import Tier, Verdict
from guardgate.protocols.endpoints import api_for_error
from guardgate.protocols.routes import RouteTable
from guardgate.settings import GuardgateSettings, load_settings
from guardgate.signals.credentials import CredentialReader

audit = logging.getLogger("guardgate.audit")

__all__ = ["GuardgateMiddleware"]


class GuardgateMiddleware:
    """Pure ASGI middleware; `GuardgateMiddleware(app)` reads its settings from the environment."""

    def __init__(
        self,
        app: ASGIApp,
        settings: GuardgateSettings | None = None,
        *,
        guard: Guard | None = None,
    ) -> None:
        self.app = app
        if guard is None:
            guard = Guard(settings if settings is not None else load_settings())
        self.guard = guard
        self.settings = guard.settings
        configure_audit_log(self.settings.audit_log)
        self.metrics = Metrics()
        guard.tier_listener = self._tier_changed
        self.metrics_endpoint = MetricsEndpoint(self.metrics, self.settings)
        self.faults = FaultCounter(self.metrics)
        # Quota storage faults (a Redis outage) are counted with the middleware's own.
        guard.quotas.faults = self.faults
        guard.engine.on_evicted = self._evicted
        if guard.detector is not None:
            guard.detector.faults = self.faults
            guard.detector.on_tokens = self._completion_tokens
        self._prefix = self.settings.path_prefix
        self._metrics_path = self.settings.metrics_path
        self.admin = AdminApp(guard)
        # Every way to the model (endpoints, aliases, read-backs) is judged: protocols/routes.py.
        self.routes = RouteTable(self._prefix, self.settings.passthrough_paths)
        self.credentials = CredentialReader(self.settings.account_header)
        # The LLM endpoints' paths (none under the admin prefix, which keeps its own).
        self._apis = {
            path: api for path, api in self.routes.posts.items() if not self.admin.handles(path)
        }
        self._think_patterns = [p.lower() for p in self.settings.think_open_models]
        self._think_models: dict[str, bool] = {}

    def think_open_model(self, model: object) -> bool:
        """Whether `model`'s chat template opens `<think>` itself (GUARDGATE_THINK_OPEN_MODELS)."""
        if not isinstance(model, str):
            return False
        known = self._think_models.get(model)
        if known is None:
            known = any(fnmatch.fnmatchcase(model.lower(), p) for p in self._think_patterns)
            if len(self._think_models) < 4096:
                self._think_models[model] = known
        return known

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if scope["method"] == "POST":
                api = self._apis.get(path)
                if api is not None:
                    await Exchange(self, api, scope, receive, send).run()
                    return
            elif (readback := self.routes.readback(scope["method"], path)) is not None:
                await Exchange(self, readback, scope, receive, send).run()
                return
            if path in self.routes.denied and not self.routes.passthrough(path):
                await _not_judged(send, path)  # any method: SGLang's /generate takes PUT too
                return
            if self.admin.handles(path):
                await self.admin(scope, receive, send)
                return
            if path == self._metrics_path and self._metrics_path and scope["method"] != "POST":
                await self.metrics_endpoint(scope, receive, send)  # behind a token
                return
        elif scope["type"] == "lifespan":
            await self.app(scope, self._lifespan_receive(receive), send)
            return
        await self.app(scope, receive, send)

    def _evicted(self, count: int) -> None:
        self.metrics.forgotten("evicted", count)

    def _completion_tokens(self, count: int) -> None:
        self.metrics.tokens("completion", count)

    def _tier_changed(self, verdict: Verdict, old: Tier) -> None:
        self.metrics.tier_change(old.value, verdict.tier.value)
        audit.info(
            json.dumps(
                {
                    "event": "tier_change",
                    "account": verdict.account,
                    "cluster": verdict.cluster,
                    "from": old.value,
                    "to": verdict.tier.value,
                    "score": round(verdict.score, 4),
                    "reasons": list(verdict.reasons),
                },
                separators=(",", ":"),
            )
        )

    def _lifespan_receive(self, receive: Receive) -> Receive:
        guard = self.guard

        async def wrapped() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await guard.start()
            elif message["type"] == "lifespan.shutdown":
                await guard.close()
            return message

        return wrapped


async def _not_judged(send: Send, path: str) -> None:
    """A 404 in the provider's format for a route guardgate cannot judge."""
    await send_error(
        send, api_for_error(path), 404, f"Unknown request URL: {path}. Check the path and method."
    )
