"""Typed access to an AWS Query request's parameters, with AWS's validation messages."""

from __future__ import annotations

from collections.abc import Iterable

from broker.iam.errors import AwsError


class Params:
    """The form (or query-string) parameters of one Query-protocol call; a name may repeat."""

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        self._values: dict[str, list[str]] = {}
        for name, value in pairs:
            self._values.setdefault(name, []).append(value)

    def get(self, name: str) -> str | None:
        values = self._values.get(name, [])
        if len(values) > 1:
            raise AwsError("InvalidParameterValue", f"Parameter {name} is given more than once.")
        return values[0] if values else None

    def required(self, name: str) -> str:
        value = self.get(name)
        if value is None or value == "":
            raise AwsError(
                "ValidationError",
                f"1 validation error detected: Value null at '{_camel(name)}' "
                "failed to satisfy constraint: Member must not be null",
            )
        return value

    def integer(self, name: str) -> int | None:
        value = self.get(name)
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            raise AwsError(
                "ValidationError",
                f"1 validation error detected: Value '{value}' at '{_camel(name)}' "
                "failed to satisfy constraint: Member must be an integer",
            ) from None

    def members(self, prefix: str) -> list[str]:
        """``Prefix.member.1``, ``Prefix.member.2`` ... in index order."""
        items: dict[int, str] = {}
        marker = f"{prefix}.member."
        for key in self._values:
            if key.startswith(marker) and key[len(marker) :].isdigit():
                items[int(key[len(marker) :])] = self.get(key) or ""
        return [items[i] for i in sorted(items)]

    def tags(self, prefix: str = "Tags") -> list[tuple[str, str]]:
        indexes: set[int] = set()
        marker = f"{prefix}.member."
        for key in self._values:
            if key.startswith(marker):
                head = key[len(marker) :].split(".", 1)[0]
                if head.isdigit():
                    indexes.add(int(head))
        return [(self.get(f"{marker}{i}.Key") or "", self.get(f"{marker}{i}.Value") or "") for i in sorted(indexes)]

    def as_dict(self) -> dict[str, str]:
        """Each parameter's first value (what the audit trail records)."""
        return {name: values[0] for name, values in self._values.items()}


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]
