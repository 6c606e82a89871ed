"""Settings the signals read, with defaults; built from `GuardgateSettings` where it has them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from guardgate.prefixed import prefixed


@dataclass(frozen=True, slots=True)
class SignalConfig:
    """Which headers carry edge fingerprints, and whether to compute content features.

    Edge headers are believed only when the TCP peer is a trusted proxy: anyone else could send
    any value. Names are lower-case. Settings fields, when present, are `signals_<field>`.
    """

    ja4_header: str = "x-ja4"
    """Header in which the edge (CDN, load balancer) passes the client's JA4 TLS fingerprint."""
    ja3_header: str = "x-ja3"
    """Header with the JA3 (or JA3 hash) TLS fingerprint; used when JA4 is absent."""
    http2_header: str = "x-http2-fingerprint"
    """Header with the Akamai-style HTTP/2 fingerprint (SETTINGS, WINDOW_UPDATE, PRIORITY)."""
    content: bool = True
    """Compute the template sketch, reasoning elicitation and capability area."""

    @classmethod
    def from_settings(cls, settings: Any) -> SignalConfig:
        """Defaults, overridden by `settings.signals_<field>` where such a field exists."""
        values = prefixed(cls, settings, "signals")
        # Header names are matched lower-cased (ASGI headers are).
        lowered: dict[str, Any] = {
            k: v.lower() if isinstance(v, str) else v for k, v in values.items()
        }
        return cls(**lowered)
