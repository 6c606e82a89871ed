"""Evidence values: what in an observation can be shared by two accounts, and of which kind.

Values of one kind are correlated (one SDK fixes both its user agent and its JSON key order), so
linking counts kinds, not values. The kinds are meant to be independent: where a request comes
from, what software built it, which application it belongs to, and what it asks.
"""

from __future__ import annotations

from enum import IntEnum

from guardgate.model import Observation
from guardgate.signals.content import band_values
from guardgate.signals.hashing import short_hash


class Kind(IntEnum):
    """Independent kinds of evidence."""

    NETWORK = 0
    """Client IP and its /24 or /48."""
    SOFTWARE = 1
    """Client software and its configuration: TLS and header fingerprints, parameters."""
    APP = 2
    """The application: system prompt and tool schemas."""
    CONTENT = 3
    """What is asked: the prompt template."""


KIND_OF_PREFIX: dict[str, Kind] = {
    "ip": Kind.NETWORK,
    "net": Kind.NETWORK,
    "tls": Kind.SOFTWARE,
    "cli": Kind.SOFTWARE,
    "par": Kind.SOFTWARE,
    "sys": Kind.APP,
    "tool": Kind.APP,
    "tpl": Kind.CONTENT,
    "b": Kind.CONTENT,
}


def evidence_values(obs: Observation, bands: int) -> list[str]:
    """The evidence values of one observation, as `<prefix>:<value>` strings (no raw text)."""
    values = []
    if obs.client_ip:
        values.append("ip:" + obs.client_ip)
    if obs.ip_prefix:
        values.append("net:" + obs.ip_prefix)
    if obs.tls_fingerprint:
        values.append("tls:" + short_hash(obs.tls_fingerprint))
    client = f"{obs.user_agent}|{obs.header_order_hash}|{obs.sdk_tuple}"
    values.append("cli:" + short_hash(client))
    values.append(f"par:{obs.param_signature}.{obs.key_order_hash}")
    if obs.system_hash:
        values.append("sys:" + obs.system_hash)
    if obs.tools_hash:
        values.append("tool:" + obs.tools_hash)
    sketch = obs.template_sketch
    if sketch:  # no sketch: a prompt too short to say anything about its sender
        values.append("tpl:" + obs.template_hash)
        values.extend("b:" + v for v in band_values(sketch[:bands], rows=1))
    return values


def kind_of(value: str) -> Kind:
    """The kind of an evidence value."""
    return KIND_OF_PREFIX[value[: value.index(":")]]
