"""`MetricsEndpoint`: guardgate's Prometheus metrics, served only behind a bearer token.

The metrics are per tier (`tier="suspect"` counts and tier changes): served openly on the client's
port, a client could watch its own requests move them and learn its tier. So they answer only a
scraper with `Authorization: Bearer <GUARDGATE_METRICS_TOKEN>` (by default the admin token); with
no token configured they are not served at all (404), and a wrong or missing token gets 401.
"""

from __future__ import annotations

import hmac

from starlette.types import Receive, Scope, Send

from guardgate.metrics import CONTENT_TYPE_LATEST, Metrics
from guardgate.settings import GuardgateSettings

__all__ = ["MetricsEndpoint"]


class MetricsEndpoint:
    """ASGI endpoint of the metrics exposition; one per middleware."""

    def __init__(self, metrics: Metrics, settings: GuardgateSettings) -> None:
        self.metrics = metrics
        secret = settings.metrics_token or settings.admin_token
        token = secret.get_secret_value() if secret is not None else ""
        self._expected = b"Bearer " + token.encode() if token else b""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._expected:
            await _send(send, 404, b'{"error":"Not Found"}', b"application/json")
            return
        given = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                given = value
                break
        # compare_digest takes time independent of where the values differ.
        if not hmac.compare_digest(given, self._expected):
            await _send(
                send,
                401,
                b'{"error":"A valid metrics bearer token is required."}',
                b"application/json",
                ((b"www-authenticate", b'Bearer realm="guardgate-metrics"'),),
            )
            return
        await _send(send, 200, self.metrics.exposition(), CONTENT_TYPE_LATEST.encode())


async def _send(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes,
    extra: tuple[tuple[bytes, bytes], ...] = (),
) -> None:
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
