"""The admin API and dashboard, served by the middleware under `GUARDGATE_ADMIN_PREFIX`.

- Disabled (every path 404) unless `GUARDGATE_ADMIN_TOKEN` is set.
- `/api/...` needs `Authorization: Bearer <token>`, compared in constant time; 401 otherwise.
- The dashboard's HTML, JS and CSS carry no data and are served without the token; the page
  asks for it (or reads it from the URL fragment, which browsers never send to a server).

Endpoints (under the prefix): `GET /api/clusters?limit=N`, `GET /api/clusters/{id}`,
`GET /api/accounts?flagged=1&limit=N` (the flagged accounts, clustered or not, highest score
first), `GET /api/accounts/{id}`, `POST /api/accounts/lookup` (`{"api_key": ...}` or
`{"account_header": ...}` to the account id; the key is hashed, never kept), `GET /api/overrides`,
`PUT /api/overrides/{account|cluster}/{id}` (`{"tier": ..., "ttl": seconds, "note": ...}`),
`DELETE /api/overrides/{account|cluster}/{id}`, `POST /api/recluster`.
"""

from __future__ import annotations

import hmac
import json
import logging
from dataclasses import asdict
from importlib import resources
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route, Router
from starlette.types import Receive, Scope, Send

from guardgate.admin.views import account_detail, cluster_detail, flagged_accounts, top_clusters
from guardgate.model import Tier
from guardgate.overrides import OverrideScope

if TYPE_CHECKING:
    from guardgate.deployment import Deployment

logger = logging.getLogger("guardgate")
audit = logging.getLogger("guardgate.audit")

_STATIC = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}
_NO_STORE = {"cache-control": "no-store"}
_MAX_TTL = 365 * 86400.0
_MAX_QUOTA = 1000.0
"""The largest quota multiplier an operator may set on an account or a cluster."""


def _static(name: str) -> bytes:
    return resources.files("guardgate.admin").joinpath("static", name).read_bytes()


def _json(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status, headers=_NO_STORE)


def _error(status: int, message: str) -> JSONResponse:
    return _json({"error": message}, status)


class AdminApp:
    """ASGI app for every path under the admin prefix (the middleware routes them here)."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.prefix = deployment.settings.admin_prefix
        token = deployment.settings.admin_token
        secret = token.get_secret_value() if token is not None else ""
        self.enabled = bool(secret)
        self._expected = b"Bearer " + secret.encode()
        p = self.prefix
        self._router = Router(
            routes=[
                Route(p, self._redirect, methods=["GET"]),
                Route(p + "/", self._index, methods=["GET"]),
                Route(p + "/static/{name}", self._asset, methods=["GET"]),
                Route(p + "/api/clusters", self._clusters, methods=["GET"]),
                Route(p + "/api/clusters/{cluster}", self._cluster, methods=["GET"]),
                Route(p + "/api/accounts", self._flagged, methods=["GET"]),
                Route(p + "/api/accounts/lookup", self._lookup, methods=["POST"]),
                Route(p + "/api/accounts/{account}", self._account, methods=["GET"]),
                Route(p + "/api/overrides", self._overrides, methods=["GET"]),
                Route(
                    p + "/api/overrides/{scope}/{subject}",
                    self._set_override,
                    methods=["PUT"],
                ),
                Route(
                    p + "/api/overrides/{scope}/{subject}",
                    self._clear_override,
                    methods=["DELETE"],
                ),
                Route(p + "/api/recluster", self._recluster, methods=["POST"]),
            ]
        )
        self._pages = {name: _static(name) for name in (*_STATIC, "index.html")}

    def handles(self, path: str) -> bool:
        """Whether `path` is under the admin prefix."""
        return path.startswith(self.prefix) and (
            len(path) == len(self.prefix) or path[len(self.prefix)] == "/"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.enabled:
            await _error(404, "Not Found")(scope, receive, send)
            return
        if scope["path"].startswith(self.prefix + "/api/") and not self._authorised(scope):
            response = _error(401, "A valid admin bearer token is required.")
            response.headers["www-authenticate"] = 'Bearer realm="guardgate-admin"'
            await response(scope, receive, send)
            return
        # Without "app" in the scope, Starlette's router answers 404 and 405 itself instead of
        # raising them to the host app's exception handlers (which the sidecar skips).
        await self._router({k: v for k, v in scope.items() if k != "app"}, receive, send)

    def _authorised(self, scope: Scope) -> bool:
        given = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                given = value
                break
        # compare_digest takes time independent of where the strings differ.
        return hmac.compare_digest(given, self._expected)

    # --- dashboard ---------------------------------------------------------------------------

    async def _redirect(self, request: Request) -> Response:
        return RedirectResponse(self.prefix + "/", status_code=308)

    async def _index(self, request: Request) -> Response:
        return Response(
            self._pages["index.html"],
            media_type="text/html; charset=utf-8",
            headers={
                **_NO_STORE,
                # The page loads only its own script and style and talks only to this origin.
                "content-security-policy": "default-src 'self'; img-src 'self' data:; "
                "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
                "referrer-policy": "no-referrer",
                "x-content-type-options": "nosniff",
            },
        )

    async def _asset(self, request: Request) -> Response:
        name = request.path_params["name"]
        media = _STATIC.get(name)
        if media is None:
            return _error(404, "Not Found")
        return Response(
            self._pages[name], media_type=media, headers={"x-content-type-options": "nosniff"}
        )

    # --- data --------------------------------------------------------------------------------

    async def _clusters(self, request: Request) -> Response:
        limit = _limit(request)
        if limit is None:
            return _error(400, "limit must be an integer")
        clusters = await top_clusters(self.deployment, limit)
        return _json({"clusters": [asdict(c) for c in clusters], "now": self.deployment.clock()})

    async def _flagged(self, request: Request) -> Response:
        if request.query_params.get("flagged") != "1":
            return _error(400, "Only the flagged accounts are listed: ask for ?flagged=1.")
        limit = _limit(request)
        if limit is None:
            return _error(400, "limit must be an integer")
        accounts = await flagged_accounts(self.deployment, limit)
        return _json({"accounts": [asdict(a) for a in accounts], "now": self.deployment.clock()})

    async def _cluster(self, request: Request) -> Response:
        detail = await cluster_detail(self.deployment, request.path_params["cluster"])
        if detail is None:
            return _error(404, "No such cluster.")
        return _json(asdict(detail))

    async def _account(self, request: Request) -> Response:
        detail = await account_detail(self.deployment, request.path_params["account"])
        if detail is None:
            return _error(404, "No such account.")
        return _json(asdict(detail))

    async def _lookup(self, request: Request) -> Response:
        body = await _body(request)
        if body is None:
            return _error(400, "Send a JSON object with api_key or account_header.")
        hasher = self.deployment.observer.accounts
        key = body.get("api_key")
        header = body.get("account_header")
        if isinstance(key, str) and key:
            account = hasher.hash(b"k:" + key.strip().encode())
        elif isinstance(header, str) and header:
            account = hasher.hash(b"h:" + header.strip().encode())
        else:
            return _error(400, "Send a JSON object with api_key or account_header.")
        return _json({"account": account})

    async def _overrides(self, request: Request) -> Response:
        return _json({"overrides": [o.as_json() for o in self.deployment.overrides.active()]})

    async def _set_override(self, request: Request) -> Response:
        scope, subject = _subject(request)
        if scope is None:
            return _error(404, "Overrides are set on /overrides/account/<id> or /cluster/<id>.")
        body = await _body(request)
        if body is None:
            return _error(400, "Send a JSON object with a tier, a quota or both.")
        tier: Tier | None = None
        if body.get("tier") is not None or "quota" not in body:
            try:
                tier = Tier(str(body.get("tier", "")))
            except ValueError:
                allowed = ", ".join(t.value for t in Tier)
                return _error(400, f"tier must be one of: {allowed}")
        quota = body.get("quota")
        if quota is not None and (
            isinstance(quota, bool)
            or not isinstance(quota, int | float)
            or not 0 < quota <= _MAX_QUOTA
        ):
            return _error(400, f"quota must be a multiplier in (0, {_MAX_QUOTA:.0f}]")
        ttl = body.get("ttl")
        if ttl is not None and (
            isinstance(ttl, bool) or not isinstance(ttl, int | float) or not 0 < ttl <= _MAX_TTL
        ):
            return _error(400, f"ttl must be a number of seconds in (0, {_MAX_TTL:.0f}]")
        note = body.get("note", "")
        if not isinstance(note, str) or len(note) > 500:
            return _error(400, "note must be a string of at most 500 characters")
        if tier is None and quota is None:
            return _error(400, "Send a JSON object with a tier, a quota or both.")
        override = await self.deployment.overrides.set(
            scope,
            subject,
            tier,
            ttl=None if ttl is None else float(ttl),
            note=note,
            quota=None if quota is None else float(quota),
        )
        _audit_override("override_set", override.as_json())
        return _json(override.as_json())

    async def _clear_override(self, request: Request) -> Response:
        scope, subject = _subject(request)
        if scope is None:
            return _error(404, "Overrides are set on /overrides/account/<id> or /cluster/<id>.")
        cleared = await self.deployment.overrides.clear(scope, subject)
        _audit_override("override_cleared", {"scope": scope.value, "subject": subject})
        if not cleared:
            return _error(404, "No override in force on that subject.")
        return _json({"cleared": True, "scope": scope.value, "subject": subject})

    async def _recluster(self, request: Request) -> Response:
        detection = self.deployment.detection
        await detection.recluster(self.deployment.clock())
        clusters = await detection.clusters()
        return _json({"clustered_accounts": len(clusters), "clusters": len(set(clusters.values()))})


def _limit(request: Request) -> int | None:
    """The `limit` query parameter clamped to 1..1000 (50 when absent), None when not an int."""
    try:
        limit = int(request.query_params.get("limit", "50"))
    except ValueError:
        return None
    return min(max(limit, 1), 1000)


def _subject(request: Request) -> tuple[OverrideScope | None, str]:
    try:
        scope = OverrideScope(request.path_params["scope"])
    except ValueError:
        return None, ""
    return scope, request.path_params["subject"]


async def _body(request: Request) -> dict[str, Any] | None:
    try:
        data = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _audit_override(event: str, fields: dict[str, Any]) -> None:
    audit.info(json.dumps({"event": event, **fields}, separators=(",", ":")))
