"""Settings the signals read, with defaults; built from `GuardgateSettings` where it has them."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


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
        values: dict[str, Any] = {}
        for f in fields(cls):
            value = getattr(settings, f"signals_{f.name}", None)
            if value is not None:
                values[f.name] = value.lower() if isinstance(value, str) else value
        return cls(**values)
