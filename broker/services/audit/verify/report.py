"""What `broker audit verify` reports: findings by kind, warnings, and what it checked."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Finding:
    kind: str  # digest | modified | inserted | reordered | deleted | rewritten | head | purge | wiped | truncated
    message: str
    chain_index: int | None = None
    event_id: str | None = None

    def line(self) -> str:
        return f"{self.kind.upper()}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, "chainIndex": self.chain_index, "eventId": self.event_id}


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    events_checked: int = 0
    digests_checked: int = 0
    first_index: int | None = None
    last_index: int | None = None
    origin: str | None = None  # where the trail begins, in words

    @property
    def ok(self) -> bool:
        return not self.findings

    def kinds(self) -> set[str]:
        return {f.kind for f in self.findings}

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "eventsChecked": self.events_checked,
            "digestsChecked": self.digests_checked,
            "firstEventIndex": self.first_index,
            "lastEventIndex": self.last_index,
            "origin": self.origin,
            "findings": [f.as_dict() for f in self.findings],
            "warnings": self.warnings,
        }


def span(first: int, last: int) -> str:
    """Chain positions (or digest numbers) as a report names them: ``#3`` or ``#3..#7``."""
    return f"#{first}" if first == last else f"#{first}..#{last}"


def short_hash(value: str) -> str:
    return value[:12]
