"""Loader for the JSON evaluation case files under ``tests/policy/cases/``.

File layout::

    {"topic": "...", "notes": "...", "defaults": {...}, "cases": [case, ...]}

A case::

    {"description": "...",                      # required
     "source": "AWS doc page the case comes from",  # optional
     "policies": {"identity": [doc...], "resource": [...], "boundary": doc,
                  "session": [...], "scps": [[doc...], [doc...]]},
     "resource_account": "123456789012",         # optional (also in defaults)
     "request": {"principal": ..., "action": ..., "resource": ..., "context": {...}},
     "decision": "Allow" | "ExplicitDeny" | "ImplicitDeny",
     "reason": "substring" | ["substring", ...],  # optional, searched in Decision.reasons
     "matched": ["policy_id#Sid-or-index", ...],  # optional, compared as a set
     "missing_context_keys": ["key", ...]}        # optional, compared as a set

or, for documents that must be rejected, ``"error": "substring of the message"``
(optionally ``"error_type": "PolicyTooLarge"``) instead of request/decision.

A policy entry is the document itself (object, or a string for exact text) or
``{"id": ..., "kind": "TRUST", "document": ...}``. Ids default to
``identity[0]``, ``resource[1]``, ``boundary``, ``session[0]``, ``scp[level][i]``.

A principal is an object with the fields of ``Principal`` or a string: an
assumed-role ARN (becomes a session of its role), a SAML provider ARN
(federated), a ``*.amazonaws.com`` name (service), or any other ARN.
Context values are JSON values; ``{"$datetime": iso}`` and ``{"$bytes": b64}``
give ``datetime`` and ``bytes``. Unknown keys anywhere are an error.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from broker.policy import PolicyKind, Principal, Request

CASES_DIR = Path(__file__).parent / "cases"

FILE_KEYS = {"topic", "notes", "defaults", "cases"}
DEFAULT_KEYS = {"request", "resource_account", "policies"}
CASE_KEYS = {
    "description",
    "source",
    "policies",
    "resource_account",
    "request",
    "decision",
    "reason",
    "matched",
    "missing_context_keys",
    "error",
    "error_type",
}
REQUEST_KEYS = {"principal", "action", "resource", "context"}
POLICY_SLOTS = {"identity", "resource", "boundary", "session", "scps"}
WRAPPER_KEYS = {"id", "kind", "document"}
PRINCIPAL_KEYS = {"arn", "account", "federated", "service", "role_arn", "is_session"}
DECISIONS = {"Allow", "ExplicitDeny", "ImplicitDeny"}
DEFAULT_KINDS = {
    "identity": PolicyKind.IDENTITY,
    "resource": PolicyKind.RESOURCE,
    "boundary": PolicyKind.BOUNDARY,
    "session": PolicyKind.SESSION,
    "scps": PolicyKind.SCP,
}

_SESSION_ARN = re.compile(r"arn:(?P<partition>[^:]+):sts::(?P<account>\d{12}):assumed-role/(?P<role>[^/]+)/.+")


class CaseFileError(ValueError):
    """A case file breaks the format (unknown key, missing field...)."""


@dataclass(frozen=True)
class PolicyEntry:
    policy_id: str
    kind: PolicyKind
    text: str


@dataclass(frozen=True)
class Case:
    file: str
    number: int
    description: str
    policies: dict[str, Any]
    resource_account: str | None
    request: dict[str, Any] | None
    decision: str | None
    reasons: tuple[str, ...]
    matched: tuple[str, ...] | None
    missing_context_keys: tuple[str, ...] | None
    error: str | None
    error_type: str | None

    @property
    def test_id(self) -> str:
        return f"{self.file}:{self.number}"


def _unknown(found: Mapping[str, Any], allowed: set[str], where: str) -> None:
    extra = set(found) - allowed
    if extra:
        raise CaseFileError(f"{where}: unknown key(s) {sorted(extra)}")


def _as_tuple(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise CaseFileError(f"{where}: expected a string or a list of strings")


def load_file(path: Path) -> list[Case]:
    data = json.loads(path.read_text(encoding="utf-8"))
    name = path.stem
    if not isinstance(data, dict):
        raise CaseFileError(f"{name}: expected an object")
    _unknown(data, FILE_KEYS, name)
    if "topic" not in data or "cases" not in data:
        raise CaseFileError(f"{name}: needs 'topic' and 'cases'")
    defaults = data.get("defaults", {})
    _unknown(defaults, DEFAULT_KEYS, f"{name}.defaults")
    _unknown(defaults.get("request", {}), REQUEST_KEYS, f"{name}.defaults.request")
    cases = []
    for number, raw in enumerate(data["cases"]):
        where = f"{name}[{number}]"
        if not isinstance(raw, dict):
            raise CaseFileError(f"{where}: expected an object")
        _unknown(raw, CASE_KEYS, where)
        if not raw.get("description"):
            raise CaseFileError(f"{where}: needs a description")
        policies = raw.get("policies", defaults.get("policies"))
        if not isinstance(policies, dict):
            raise CaseFileError(f"{where}: needs 'policies'")
        _unknown(policies, POLICY_SLOTS, f"{where}.policies")
        has_error = "error" in raw
        if has_error == ("decision" in raw):
            raise CaseFileError(f"{where}: needs exactly one of 'decision' and 'error'")
        request = None
        if not has_error:
            request = {**defaults.get("request", {}), **raw.get("request", {})}
            _unknown(raw.get("request", {}), REQUEST_KEYS, f"{where}.request")
            missing = REQUEST_KEYS - {"context"} - set(request)
            if missing:
                raise CaseFileError(f"{where}.request: missing {sorted(missing)}")
            if raw["decision"] not in DECISIONS:
                raise CaseFileError(f"{where}.decision: must be one of {sorted(DECISIONS)}")
        elif "request" in raw or "matched" in raw:
            raise CaseFileError(f"{where}: an error case takes no request or matched")
        cases.append(
            Case(
                file=name,
                number=number,
                description=raw["description"],
                policies=policies,
                resource_account=raw.get("resource_account", defaults.get("resource_account")),
                request=request,
                decision=raw.get("decision"),
                reasons=_as_tuple(raw.get("reason", []), f"{where}.reason"),
                matched=_as_tuple(raw["matched"], f"{where}.matched") if "matched" in raw else None,
                missing_context_keys=(
                    _as_tuple(raw["missing_context_keys"], f"{where}.missing_context_keys")
                    if "missing_context_keys" in raw
                    else None
                ),
                error=raw.get("error"),
                error_type=raw.get("error_type"),
            )
        )
    return cases


def load_all(directory: Path = CASES_DIR) -> list[Case]:
    cases: list[Case] = []
    for path in sorted(directory.glob("*.json")):
        cases.extend(load_file(path))
    return cases


def _entry(raw: Any, slot: str, default_id: str, where: str) -> PolicyEntry:
    kind = DEFAULT_KINDS[slot]
    policy_id = default_id
    document = raw
    if isinstance(raw, dict) and "document" in raw:
        _unknown(raw, WRAPPER_KEYS, where)
        document = raw["document"]
        policy_id = raw.get("id", default_id)
        if "kind" in raw:
            kind = PolicyKind[raw["kind"]]
    text = document if isinstance(document, str) else json.dumps(document)
    return PolicyEntry(policy_id, kind, text)


def policy_entries(case: Case) -> dict[str, Any]:
    """Entries by slot: lists for identity/resource/session, one for boundary, levels for scps."""
    where = f"{case.test_id}.policies"
    slots: dict[str, Any] = {}
    for slot in ("identity", "resource", "session"):
        items = case.policies.get(slot, [])
        if not isinstance(items, list):
            raise CaseFileError(f"{where}.{slot}: expected a list")
        slots[slot] = [_entry(item, slot, f"{slot}[{i}]", f"{where}.{slot}") for i, item in enumerate(items)]
    boundary = case.policies.get("boundary")
    slots["boundary"] = None if boundary is None else _entry(boundary, "boundary", "boundary", where)
    scps = case.policies.get("scps")
    if scps is None:
        slots["scps"] = None
    else:
        if not isinstance(scps, list) or not all(isinstance(level, list) for level in scps):
            raise CaseFileError(f"{where}.scps: expected a list of levels (lists)")
        slots["scps"] = [
            [_entry(item, "scps", f"scp[{depth}][{i}]", f"{where}.scps") for i, item in enumerate(level)]
            for depth, level in enumerate(scps)
        ]
    return slots


def make_principal(raw: Any, where: str) -> Principal:
    if isinstance(raw, dict):
        _unknown(raw, PRINCIPAL_KEYS, where)
        return Principal(**raw)
    if not isinstance(raw, str):
        raise CaseFileError(f"{where}: expected an object or a string")
    if raw == "anonymous":
        return Principal()
    session = _SESSION_ARN.fullmatch(raw)
    if session:
        role_arn = f"arn:{session['partition']}:iam::{session['account']}:role/{session['role']}"
        return Principal(arn=raw, role_arn=role_arn, is_session=True)
    if ":saml-provider/" in raw or ":oidc-provider/" in raw:
        return Principal(federated=raw)
    if raw.endswith(".amazonaws.com"):
        return Principal(service=raw)
    return Principal(arn=raw)


def _context_value(value: Any, where: str) -> Any:
    if isinstance(value, dict):
        _unknown(value, {"$datetime", "$bytes"}, where)
        if "$datetime" in value:
            return datetime.fromisoformat(value["$datetime"])
        return base64.b64decode(value["$bytes"])
    if isinstance(value, list):
        return [_context_value(item, where) for item in value]
    return value


def make_request(case: Case) -> Request:
    assert case.request is not None
    where = f"{case.test_id}.request"
    context = {
        key: _context_value(value, f"{where}.context.{key}") for key, value in case.request.get("context", {}).items()
    }
    return Request(
        principal=make_principal(case.request["principal"], f"{where}.principal"),
        action=case.request["action"],
        resource=case.request["resource"],
        context=context,
    )
