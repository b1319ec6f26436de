"""Validation of a policy document's structure into a typed :class:`PolicyDocument`.

Every rejection raises :class:`MalformedPolicyDocument` with the place first
("Statement[1].Condition.StringEquals.aws:username: ..."), so that the message
an administrator gets back tells them where to look.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from broker.policy._json import Duplicates, load_json
from broker.policy.conditions import Condition, parse_condition, parse_operator
from broker.policy.errors import MalformedPolicyDocument
from broker.policy.kinds import PolicyKind
from broker.policy.principals import PrincipalSpec, parse_principal
from broker.policy.variables import Template, parse_template

VERSION_2012 = "2012-10-17"
VERSION_2008 = "2008-10-17"
VERSIONS = (VERSION_2012, VERSION_2008)

TOP_LEVEL_ELEMENTS = ("Version", "Id", "Statement")
STATEMENT_ELEMENTS = (
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
)

_ACTION = re.compile(r"[A-Za-z0-9*?-]+:[A-Za-z0-9*?_.-]+")
_STRICT_SID = re.compile(r"[A-Za-z0-9]*")


class StatementEffect(Enum):
    ALLOW = "Allow"
    DENY = "Deny"


@dataclass(frozen=True, slots=True)
class StatementDocument:
    """One validated statement, values normalised to tuples."""

    index: int
    sid: str | None
    effect: StatementEffect
    actions: tuple[str, ...]
    not_action: bool
    # None when the statement has no resource element (trust policies).
    resources: tuple[Template, ...] | None
    not_resource: bool
    principal: PrincipalSpec | None
    not_principal: bool
    conditions: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class PolicyDocument:
    version: str | None
    id: str | None
    statements: tuple[StatementDocument, ...]

    @property
    def allows_variables(self) -> bool:
        return self.version == VERSION_2012


def read_document(text: str, kind: PolicyKind) -> PolicyDocument:
    """Parse and validate policy text (no compilation of matchers)."""
    raw, duplicates = load_json(text, kind)
    return validate_document(raw, kind, duplicates)


def _check_duplicates(obj: Mapping[str, Any], path: str, what: str, duplicates: Duplicates) -> None:
    repeated = duplicates.get(id(obj))
    if repeated:
        raise MalformedPolicyDocument(f"{path}: duplicate {what} {repeated[0]!r}")


def validate_document(raw: object, kind: PolicyKind, duplicates: Duplicates | None = None) -> PolicyDocument:
    duplicates = duplicates if duplicates is not None else {}
    if not isinstance(raw, dict):
        raise MalformedPolicyDocument("Policy document: expected a JSON object")
    _check_duplicates(raw, "Policy document", "element", duplicates)
    for name in raw:
        if name not in TOP_LEVEL_ELEMENTS:
            raise MalformedPolicyDocument(
                f"Policy document: unknown element {name!r}; expected Version, Id and Statement"
            )
    version = raw.get("Version")
    if version is not None and version not in VERSIONS:
        raise MalformedPolicyDocument(f"Version: {version!r} is not a policy language version; use {VERSION_2012!r}")
    policy_id = raw.get("Id")
    if policy_id is not None and not isinstance(policy_id, str):
        raise MalformedPolicyDocument("Id: must be a string")
    if "Statement" not in raw:
        raise MalformedPolicyDocument("Policy document: missing required element Statement")
    statements_raw = raw["Statement"]
    if isinstance(statements_raw, dict):
        items = [statements_raw]
    elif isinstance(statements_raw, list):
        if not statements_raw:
            raise MalformedPolicyDocument("Statement: must contain at least one statement")
        items = statements_raw
    else:
        raise MalformedPolicyDocument("Statement: expected an object or a list of objects")
    allow_variables = version == VERSION_2012
    statements = tuple(
        _validate_statement(item, index, kind, allow_variables, duplicates) for index, item in enumerate(items)
    )
    seen: dict[str, int] = {}
    for statement in statements:
        if statement.sid:
            if statement.sid in seen:
                raise MalformedPolicyDocument(
                    f"Statement[{statement.index}].Sid: {statement.sid!r} is already used by "
                    f"Statement[{seen[statement.sid]}]; Sids must be unique within a policy"
                )
            seen[statement.sid] = statement.index
    return PolicyDocument(version=version, id=policy_id, statements=statements)


def _string_list(raw: object, path: str) -> tuple[str, ...]:
    if isinstance(raw, str):
        return (raw,)
    if isinstance(raw, list):
        if not raw:
            raise MalformedPolicyDocument(f"{path}: must not be an empty list")
        for position, item in enumerate(raw):
            if not isinstance(item, str):
                raise MalformedPolicyDocument(f"{path}[{position}]: expected a string")
        return tuple(raw)
    raise MalformedPolicyDocument(f"{path}: expected a string or a list of strings")


def _one_of(statement: Mapping[str, Any], first: str, second: str, path: str) -> str | None:
    if first in statement and second in statement:
        raise MalformedPolicyDocument(f"{path}: has both {first} and {second}; use one of them")
    if first in statement:
        return first
    if second in statement:
        return second
    return None


def _validate_statement(
    raw: object, index: int, kind: PolicyKind, allow_variables: bool, duplicates: Duplicates
) -> StatementDocument:
    path = f"Statement[{index}]"
    if not isinstance(raw, dict):
        raise MalformedPolicyDocument(f"{path}: expected an object")
    _check_duplicates(raw, path, "element", duplicates)
    for name in raw:
        if name not in STATEMENT_ELEMENTS:
            raise MalformedPolicyDocument(f"{path}: unknown element {name!r}")

    sid = raw.get("Sid")
    if sid is not None:
        if not isinstance(sid, str):
            raise MalformedPolicyDocument(f"{path}.Sid: must be a string")
        if kind.strict_sid and not _STRICT_SID.fullmatch(sid):
            raise MalformedPolicyDocument(f"{path}.Sid: {sid!r} must contain only letters and digits")

    if "Effect" not in raw:
        raise MalformedPolicyDocument(f"{path}: missing required element Effect")
    try:
        effect = StatementEffect(raw["Effect"])
    except (ValueError, TypeError):
        raise MalformedPolicyDocument(f'{path}.Effect: {raw["Effect"]!r} must be "Allow" or "Deny"') from None

    principal: PrincipalSpec | None = None
    principal_element = _one_of(raw, "Principal", "NotPrincipal", path)
    if kind.has_principal:
        if principal_element is None:
            raise MalformedPolicyDocument(
                f"{path}: missing required element Principal ({kind.value} policies name who they apply to)"
            )
        principal = parse_principal(raw[principal_element], f"{path}.{principal_element}", duplicates)
    elif principal_element is not None:
        raise MalformedPolicyDocument(
            f"{path}: has prohibited field {principal_element} ({kind.value} policies apply to the "
            "identity they are attached to)"
        )

    action_element = _one_of(raw, "Action", "NotAction", path)
    if action_element is None:
        raise MalformedPolicyDocument(f"{path}: missing required element Action or NotAction")
    actions = _string_list(raw[action_element], f"{path}.{action_element}")
    for position, action in enumerate(actions):
        if action != "*" and not _ACTION.fullmatch(action):
            raise MalformedPolicyDocument(
                f"{path}.{action_element}[{position}]: {action!r} is not an action; "
                'expected "service:ActionName" (wildcards * and ? allowed) or "*"'
            )

    resource_element = _one_of(raw, "Resource", "NotResource", path)
    resources: tuple[Template, ...] | None = None
    if kind is PolicyKind.TRUST:
        if resource_element is not None:
            # As IAM: the role is the resource of its trust policy.
            raise MalformedPolicyDocument(
                f"{path}: has prohibited field {resource_element} (a trust policy's resource is its role)"
            )
    elif resource_element is None:
        raise MalformedPolicyDocument(f"{path}: missing required element Resource or NotResource")
    else:
        names = _string_list(raw[resource_element], f"{path}.{resource_element}")
        templates = []
        for position, name in enumerate(names):
            where = f"{path}.{resource_element}[{position}]"
            if name != "*" and not (name.startswith("arn:") and (name.count(":") >= 5 or "*" in name)):
                raise MalformedPolicyDocument(f'{where}: {name!r} is neither "*" nor an ARN')
            templates.append(parse_template(name, allow_variables=allow_variables, path=where))
        resources = tuple(templates)

    conditions: tuple[Condition, ...] = ()
    if "Condition" in raw:
        conditions = _validate_conditions(raw["Condition"], f"{path}.Condition", allow_variables, duplicates)

    return StatementDocument(
        index=index,
        sid=sid,
        effect=effect,
        actions=actions,
        not_action=action_element == "NotAction",
        resources=resources,
        not_resource=resource_element == "NotResource",
        principal=principal,
        not_principal=principal_element == "NotPrincipal",
        conditions=conditions,
    )


def _validate_conditions(
    raw: object, path: str, allow_variables: bool, duplicates: Duplicates
) -> tuple[Condition, ...]:
    if not isinstance(raw, dict):
        raise MalformedPolicyDocument(f"{path}: expected an object of condition operators")
    _check_duplicates(raw, path, "condition operator", duplicates)
    conditions: list[Condition] = []
    for operator_text, block in raw.items():
        where = f"{path}.{operator_text}"
        parse_operator(operator_text, where)
        if not isinstance(block, dict):
            raise MalformedPolicyDocument(f"{where}: expected an object of condition keys")
        _check_duplicates(block, where, "condition key", duplicates)
        if not block:
            raise MalformedPolicyDocument(f"{where}: names no condition key")
        lowered: dict[str, str] = {}
        for key, values in block.items():
            # Keys are case-insensitive, so two spellings of one key are a duplicate.
            if key.lower() in lowered:
                raise MalformedPolicyDocument(
                    f"{where}: condition key {key!r} repeats {lowered[key.lower()]!r} (keys ignore case)"
                )
            lowered[key.lower()] = key
            conditions.append(parse_condition(operator_text, key, values, path=where, allow_variables=allow_variables))
    return tuple(conditions)
