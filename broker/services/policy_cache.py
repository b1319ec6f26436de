"""Policy documents compiled once per distinct text (an LRU cache shared by every decision)."""

from __future__ import annotations

import json
from functools import lru_cache

from broker.policy import MalformedPolicyDocument, Policy, PolicyKind, parse_policy

# Stands in for a policy that should apply but can no longer be read (deleted, corrupt): it
# allows nothing, so a principal limited by it stays limited.
_GRANTS_NOTHING = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "broker:NoAction", "Resource": "*"}]}
)


@lru_cache(maxsize=8192)
def compiled(document: str, kind: PolicyKind, policy_id: str) -> Policy:
    return parse_policy(document, kind, policy_id=policy_id)


def compile_stored(document: str, kind: PolicyKind, policy_id: str) -> Policy | None:
    """A stored document, compiled; ``None`` if it no longer parses (it was validated on the way in)."""
    try:
        return compiled(document, kind, policy_id)
    except MalformedPolicyDocument:
        return None


def grants_nothing(policy_id: str, kind: PolicyKind = PolicyKind.IDENTITY) -> Policy:
    return compiled(_GRANTS_NOTHING, kind, policy_id)
