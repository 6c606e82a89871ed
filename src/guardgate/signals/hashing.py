"""The short stable hash that names evidence values, prompts and clusters (kept apart from
`shape`, which reads request bodies through the dialects, so that linking and scoring need not
import the wire formats)."""

from __future__ import annotations

import hashlib


def short_hash(data: str) -> str:
    """16 hex chars of BLAKE2b: stable across processes, cheap, not reversible for long inputs."""
    return hashlib.blake2b(data.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()
