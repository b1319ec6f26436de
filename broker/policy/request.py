"""The request being authorised: who, what action, which resource, what context."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from broker.policy._values import Scalar
from broker.policy.principals import Principal

ContextScalar = str | bool | int | float | datetime | bytes
ContextValue = ContextScalar | Sequence[ContextScalar]

_SCALAR_TYPES = (str, bool, int, float, datetime, bytes)


def normalize_context(context: Mapping[str, ContextValue | None]) -> dict[str, tuple[Scalar, ...]]:
    """Lower-case keys (condition keys ignore case) and make every value a tuple.

    A ``None`` value means the key is absent, which lets callers build contexts
    without branching. Two spellings of one key are a caller bug and raise.
    """
    normalized: dict[str, tuple[Scalar, ...]] = {}
    for key, value in context.items():
        if value is None:
            continue
        lowered = key.lower()
        if lowered in normalized:
            raise ValueError(f"context key {key!r} is given twice (keys ignore case)")
        if isinstance(value, _SCALAR_TYPES):
            normalized[lowered] = (value,)
            continue
        items = tuple(value)
        for item in items:
            if not isinstance(item, _SCALAR_TYPES):
                raise TypeError(f"context key {key!r}: unsupported value {item!r}")
        normalized[lowered] = items
    return normalized


@dataclass(frozen=True, slots=True)
class Request:
    """``context`` keys are case-insensitive; values are scalars or sequences of them."""

    principal: Principal
    action: str
    resource: str
    context: Mapping[str, ContextValue | None] = field(default_factory=dict)
    normalized_context: dict[str, tuple[Scalar, ...]] = field(init=False, repr=False, compare=False)
    action_key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "normalized_context", normalize_context(self.context))
        # Action names ignore case; policies are indexed by the lower-case form.
        object.__setattr__(self, "action_key", self.action.lower())
