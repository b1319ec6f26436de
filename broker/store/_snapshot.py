"""Rows as frozen records: the one way the store turns what it read into values."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar, overload

R = TypeVar("R")

_FIELDS: dict[tuple[type, int], tuple[tuple[str, str], ...]] = {}
_SAME_NAMES: Mapping[str, str] = {}


def field_columns(record_type: type, renamed: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """(field, column) of each field of ``record_type``: its own name unless ``renamed`` (a
    module-level constant: the pairs are worked out once per type and renaming)."""
    key = (record_type, id(renamed))
    found = _FIELDS.get(key)
    if found is None:
        found = tuple((f.name, renamed.get(f.name, f.name)) for f in dataclasses.fields(record_type))
        _FIELDS[key] = found
    return found


@overload
def snapshot(record_type: type[R], row: None, *, renamed: Mapping[str, str] = ..., **given: Any) -> None: ...
@overload
def snapshot(record_type: type[R], row: object, *, renamed: Mapping[str, str] = ..., **given: Any) -> R: ...
def snapshot(record_type: type[R], row: object | None, *, renamed: Mapping[str, str] = {}, **given: Any) -> R | None:
    """A frozen record of ``row`` (None for no row): each field not ``given`` is read from its
    column, of the same name unless ``renamed`` (field -> column) says otherwise."""
    if row is None:
        return None
    values = {name: getattr(row, column) for name, column in field_columns(record_type, renamed) if name not in given}
    return record_type(**values, **given)
