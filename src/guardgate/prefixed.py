"""Reading a part's config dataclass from the flat settings: field `name` of the part's config
is settings field `<prefix>_name` (environment variable `GUARDGATE_<PREFIX>_<NAME>`)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any


def prefixed(config: type[Any], settings: Any, prefix: str) -> dict[str, Any]:
    """The fields of dataclass `config` that `settings` sets (`settings.<prefix>_<field>` exists
    and is not None), by field name; the others keep their defaults."""
    values: dict[str, Any] = {}
    for f in fields(config):
        value = getattr(settings, f"{prefix}_{f.name}", None)
        if value is not None:
            values[f.name] = value
    return values
