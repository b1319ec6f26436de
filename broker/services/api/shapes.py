"""Result structures of AWS actions, as handlers return them and the audit trail records them."""

from __future__ import annotations

from typing import Any

from broker.iam.ids import Secret


class XmlMap(dict[str, Any]):
    """A Query-protocol map: rendered as ``<entry><key>k</key><value>v</value></entry>`` per item."""


def json_safe(value: Any) -> Any:
    """A result as plain JSON values (timestamps and other scalars as text), for the audit trail."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items() if not isinstance(v, Secret)}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
