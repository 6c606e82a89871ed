"""`record`: the frozen dataclass of the values made on every request, without frozen's cost.

A frozen dataclass sets each field through `object.__setattr__` in `__init__`, which makes it
about five times as slow to build as a plain one (an `Observation` took 6.8 µs against 1.3 µs
here), and the request path builds several a request. A `record` is frozen where it is checked:
the type checker (mypy strict, in CI) treats it as frozen and rejects any assignment to a field,
and it is hashable and compared by value as a frozen dataclass is. At run time its fields are
plain slots, so the assignments in `__init__` take Python's fast path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar, dataclass_transform, overload

__all__ = ["record"]

T = TypeVar("T")


@overload
def record(cls: type[T], /) -> type[T]: ...


@overload
def record(*, order: bool = False) -> Callable[[type[T]], type[T]]: ...


@dataclass_transform(frozen_default=True, eq_default=True, field_specifiers=(field,))
def record(
    cls: type[T] | None = None, /, *, order: bool = False
) -> type[T] | Callable[[type[T]], type[T]]:
    """Make `cls` a slotted dataclass, frozen for the type checker and hashed by value."""

    def wrap(cls: type[T]) -> type[T]:
        return dataclass(slots=True, unsafe_hash=True, order=order)(cls)

    return wrap if cls is None else wrap(cls)
