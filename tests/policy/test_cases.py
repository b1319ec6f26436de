"""Runs every evaluation case of ``tests/policy/cases/*.json`` (format: casefile.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from broker.policy import (
    Decision,
    MalformedPolicyDocument,
    Policy,
    PolicySet,
    PolicyTooLarge,
    evaluate,
    parse_policy,
)
from tests.policy.casefile import (
    Case,
    CaseFileError,
    PolicyEntry,
    load_all,
    load_file,
    make_request,
    policy_entries,
)

CASES = load_all()


def _parse(entry: PolicyEntry) -> Policy:
    return parse_policy(entry.text, entry.kind, entry.policy_id)


def _policy_set(case: Case) -> PolicySet:
    slots = policy_entries(case)
    return PolicySet(
        identity=[_parse(entry) for entry in slots["identity"]],
        resource=[_parse(entry) for entry in slots["resource"]],
        boundary=None if slots["boundary"] is None else _parse(slots["boundary"]),
        session=[_parse(entry) for entry in slots["session"]],
        scps=None if slots["scps"] is None else [[_parse(entry) for entry in level] for level in slots["scps"]],
        resource_account=case.resource_account,
    )


def _matched_names(decision: Decision) -> set[str]:
    return {f"{m.policy_id}#{m.sid if m.sid else m.index}" for m in decision.matched}


@pytest.mark.parametrize("case", CASES, ids=[case.test_id for case in CASES])
def test_case(case: Case) -> None:
    if case.error is not None:
        with pytest.raises(MalformedPolicyDocument) as caught:
            _policy_set(case)
        assert case.error in str(caught.value), case.description
        if case.error_type == "PolicyTooLarge":
            assert isinstance(caught.value, PolicyTooLarge)
        elif case.error_type is not None:
            raise CaseFileError(f"{case.test_id}: unknown error_type {case.error_type!r}")
        return
    decision = evaluate(make_request(case), _policy_set(case))
    why = f"{case.description}\nreasons: {decision.reasons}\nmatched: {sorted(_matched_names(decision))}"
    assert decision.effect.value == case.decision, why
    joined = "\n".join(decision.reasons)
    for fragment in case.reasons:
        assert fragment in joined, why
    if case.matched is not None:
        assert _matched_names(decision) == set(case.matched), why
    if case.missing_context_keys is not None:
        assert set(decision.missing_context_keys) == set(case.missing_context_keys), why


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 250


def test_descriptions_are_unique_within_a_file() -> None:
    seen: set[tuple[str, str]] = set()
    for case in CASES:
        key = (case.file, case.description)
        assert key not in seen, f"duplicate description in {case.file}: {case.description}"
        seen.add(key)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"topic": "t", "cases": [], "extra": 1}, "unknown key(s) ['extra']"),
        (
            {"topic": "t", "cases": [{"description": "d", "policies": {}, "decison": "Allow"}]},
            "unknown key(s) ['decison']",
        ),
        (
            {
                "topic": "t",
                "cases": [
                    {
                        "description": "d",
                        "policies": {},
                        "decision": "Allow",
                        "request": {"principal": "anonymous", "action": "a:b", "resource": "*", "ctx": {}},
                    }
                ],
            },
            "unknown key(s) ['ctx']",
        ),
        (
            {"topic": "t", "cases": [{"description": "d", "policies": {"identty": []}, "decision": "Allow"}]},
            "identty",
        ),
        ({"topic": "t", "cases": [{"description": "d", "policies": {}}]}, "exactly one of"),
    ],
)
def test_unknown_keys_in_case_files_are_errors(tmp_path: Path, content: dict[str, Any], message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(content))
    with pytest.raises(CaseFileError) as caught:
        load_file(path)
    assert message in str(caught.value)
