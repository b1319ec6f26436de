"""Which data events the trail keeps: the ``audit_decision_events`` setting.

Decisions are CloudTrail data events: other services ask for them on their own hot path, at a
rate no management action reaches, so recording every one can cost more than it tells. Denials
are what an investigation looks for (who tried what and was refused), hence the default.
"""

from __future__ import annotations

from collections.abc import Iterable

from broker.policy import Effect

# The values of ``audit_decision_events`` (broker.settings validates against the same three).
DECISION_EVENT_SETTINGS = ("none", "denies", "all")


def decision_event_wanted(setting: str, effects: Iterable[Effect]) -> bool:
    """Whether a decision request whose queries got ``effects`` is recorded under ``setting``:
    never (``none``), when any query was not allowed (``denies``), or always (``all``)."""
    if setting == "all":
        return True
    if setting == "denies":
        return any(effect is not Effect.ALLOW for effect in effects)
    if setting == "none":
        return False
    raise ValueError(f"audit_decision_events must be one of {', '.join(DECISION_EVENT_SETTINGS)}, got {setting!r}")
