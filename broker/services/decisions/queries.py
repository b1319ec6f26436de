"""Reading a decision request's body: one query, or a batch of them, strictly validated.

The limits bound the work one request can ask for; the body is also bounded by the app's
``MAX_CONTENT_LENGTH``. Keys the broker derives about the principal (and its clock) cannot be
supplied, or a caller could claim another identity's tags, MFA or federation attributes.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, NoReturn

from broker.iam import limits
from broker.iam.arn import Arn, InvalidArn
from broker.policy import ContextScalar, ContextValue
from broker.policy._json import MAX_JSON_DEPTH, nested_too_deeply
from broker.services.decisions.errors import DecisionApiError, invalid, malformed, shown
from broker.services.orgs.context import resource_account

MAX_BATCH: Final = 100
MAX_CONTEXT_KEYS: Final = 100
MAX_CONTEXT_KEY_LENGTH: Final = 256
MAX_CONTEXT_VALUES: Final = 100  # values of one multi-valued key
MAX_CONTEXT_TEXT: Final = 2048  # characters of one string value
MAX_ACTION_LENGTH: Final = 256

# Lower-case, since condition keys ignore case.
PROTECTED_CONTEXT_KEYS: Final = frozenset(
    key.lower()
    for key in (
        "aws:PrincipalArn",
        "aws:PrincipalAccount",
        "aws:PrincipalOrgID",
        "aws:PrincipalOrgPaths",
        "aws:PrincipalType",
        "aws:PrincipalIsAWSService",
        "aws:PrincipalServiceName",
        "aws:PrincipalServiceNamesList",
        "aws:userid",
        "aws:username",
        "aws:MultiFactorAuthPresent",
        "aws:MultiFactorAuthAge",
        "aws:TokenIssueTime",
        "aws:SourceIdentity",
        "aws:FederatedProvider",
        "aws:CurrentTime",
        "aws:EpochTime",
    )
)
PROTECTED_CONTEXT_PREFIXES: Final = ("aws:principaltag/", "saml:")
# Derived from the resource ARN when it names an account; callers may set them only otherwise.
_RESOURCE_ACCOUNT_KEYS: Final = frozenset({"aws:resourceaccount", "aws:resourceorgid"})

_ACTION = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*:[A-Za-z0-9][A-Za-z0-9_.-]*")
_CONTEXT_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*:[^\x00-\x1f\x7f]+")
_SINGLE_FIELDS: Final = frozenset({"action", "resource", "context"})


@dataclass(frozen=True)
class DecisionQuery:
    action: str
    resource: str
    context: Mapping[str, ContextValue] = field(default_factory=dict)


class _DuplicateKey(ValueError):
    pass


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(f"the key {shown(key)} appears twice in one object")
        result[key] = value
    return result


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def _load_body(body: bytes) -> dict[str, Any]:
    if not body.strip():
        raise malformed("The request body is empty; send a JSON object.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise malformed("The request body is not UTF-8.") from None
    if nested_too_deeply(text):  # refused before json.loads recurses once per level
        raise malformed(f"The request body is not valid JSON: it nests more than {MAX_JSON_DEPTH} levels deep.")
    try:
        document = json.loads(text, object_pairs_hook=_object_without_duplicates, parse_constant=_reject_constant)
    except _DuplicateKey as exc:
        raise malformed(f"The request body is ambiguous: {exc}.") from None
    except json.JSONDecodeError as exc:
        raise malformed(
            f"The request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}."
        ) from None
    except (ValueError, RecursionError) as exc:
        reason = "it is nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise malformed(f"The request body is not valid JSON: {reason}.") from None
    if not isinstance(document, dict):
        raise malformed("The request body must be a JSON object.")
    return document


def read_queries(body: bytes) -> tuple[tuple[DecisionQuery, ...], bool]:
    """The decision queries of a request body, and whether it was the batch form."""
    document = _load_body(body)
    if "requests" in document:
        extra = sorted(set(document) - {"requests"})
        if extra:
            invalid(f'A batch request has only the field "requests"; remove {", ".join(shown(k) for k in extra)}.')
        entries = document["requests"]
        if not isinstance(entries, list):
            invalid("requests: must be an array of decision requests.")
        if not 1 <= len(entries) <= MAX_BATCH:
            invalid(f"requests: must hold 1 to {MAX_BATCH} decision requests, not {len(entries)}.")
        return tuple(_query(entry, f"requests[{index}]") for index, entry in enumerate(entries)), True
    return (_query(document, "request"),), False


def _protected(message: str) -> DecisionApiError:
    return DecisionApiError("ProtectedContextKey", message, 400)


def _query(entry: object, where: str) -> DecisionQuery:
    if not isinstance(entry, dict):
        invalid(f"{where}: must be an object with action, resource and optional context.")
    unknown = sorted(set(entry) - _SINGLE_FIELDS)
    if unknown:
        invalid(
            f"{where}: unknown field {', '.join(shown(k) for k in unknown)}; "
            "the fields are action, resource and context."
        )
    for name in ("action", "resource"):
        if name not in entry:
            invalid(f"{where}: the field {name} is required.")
    resource = _resource(entry["resource"], f"{where}.resource")
    context = _context(entry.get("context", {}), f"{where}.context")
    if resource_account(resource) is not None:
        # The ARN names its account: the broker derives both keys, and an SCP keyed on them must
        # not be talked out of its deny.
        for key in context:
            if key.lower() in _RESOURCE_ACCOUNT_KEYS:
                raise _protected(
                    f"{where}.context[{shown(key)}]: the broker derives this key from the account the "
                    "resource ARN names; a request can set it only for ARNs that name no account."
                )
    return DecisionQuery(action=_action(entry["action"], f"{where}.action"), resource=resource, context=context)


def _action(value: object, where: str) -> str:
    if not isinstance(value, str):
        invalid(f'{where}: must be a string such as "s3:GetObject".')
    if len(value) > MAX_ACTION_LENGTH or not _ACTION.fullmatch(value):
        invalid(
            f'{where}: {shown(value)} is not an action; expected "service:ActionName" '
            "(letters, digits, '-', '_' and '.'; no wildcards: a request names one action)."
        )
    return value


def _resource(value: object, where: str) -> str:
    if not isinstance(value, str):
        invalid(f'{where}: must be a string: an ARN, or "*" for actions without a resource.')
    if value == "*":
        return value
    if len(value) > limits.ARN_MAX:
        invalid(f"{where}: longer than {limits.ARN_MAX} characters.")
    try:
        Arn.parse(value)
    except InvalidArn as exc:
        invalid(f"{where}: {exc.message}.")
    return value


def _context(value: object, where: str) -> dict[str, ContextValue]:
    if not isinstance(value, dict):
        invalid(f"{where}: must be an object mapping condition keys to values.")
    if len(value) > MAX_CONTEXT_KEYS:
        invalid(f"{where}: at most {MAX_CONTEXT_KEYS} keys, not {len(value)}.")
    context: dict[str, ContextValue] = {}
    seen: dict[str, str] = {}
    for key, raw in value.items():
        place = f"{where}[{shown(key)}]"
        if len(key) > MAX_CONTEXT_KEY_LENGTH or not _CONTEXT_KEY.fullmatch(key):
            invalid(f'{place}: not a condition key; expected "prefix:name" such as "aws:SourceIp".')
        lowered = key.lower()
        if lowered in PROTECTED_CONTEXT_KEYS or lowered.startswith(PROTECTED_CONTEXT_PREFIXES):
            raise _protected(
                f"{place}: the broker derives this key (from the credentials or its own clock); "
                "a request cannot set it."
            )
        if lowered in seen:
            invalid(f"{place}: the same key as {shown(seen[lowered])} (condition keys ignore case).")
        seen[lowered] = key
        context[key] = _context_value(raw, place)
    return context


def _context_value(raw: object, place: str) -> ContextValue:
    if isinstance(raw, list):
        if len(raw) > MAX_CONTEXT_VALUES:
            invalid(f"{place}: at most {MAX_CONTEXT_VALUES} values, not {len(raw)}.")
        return [_scalar(item, f"{place}[{index}]") for index, item in enumerate(raw)]
    return _scalar(raw, place)


def _scalar(raw: object, place: str) -> ContextScalar:
    if isinstance(raw, str):
        if len(raw) > MAX_CONTEXT_TEXT:
            invalid(f"{place}: a value of at most {MAX_CONTEXT_TEXT} characters.")
        return raw
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int | float):
        if not math.isfinite(raw):
            invalid(f"{place}: numbers must be finite.")
        return raw
    if raw is None:
        invalid(f"{place}: null is not a value; leave the key out when it has none.")
    invalid(f"{place}: a value is a string, number, boolean or an array of those.")
