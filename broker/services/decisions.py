"""Decisions for services that accept the broker's credentials (``POST /v1/decisions``).

A service asks "may this caller do ``action`` on ``resource`` in this context?" and gets the
policy engine's :class:`~broker.policy.Decision` with its reasons. The caller is the principal
the request authenticates: a SigV4 signature over the decision request itself (credential scope
service ``execute-api``, any region), by an IAM user's access key or by temporary credentials,
or the caller's session token as ``Authorization: Bearer``. Each call, answered or refused, is
one audit event; an answered call's event commits in the transaction that read the policies
(and, for access keys, recorded their last use).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, NoReturn
from urllib.parse import parse_qsl

from sqlalchemy.orm import Session

from broker.crypto.sigv4 import SigV4Error, parse_signed_request
from broker.crypto.tokens import ExpiredSessionToken, InvalidSessionToken, decode_session_token
from broker.iam import limits
from broker.iam.arn import Arn, InvalidArn
from broker.iam.errors import AwsError
from broker.policy import ContextScalar, ContextValue, Decision, PolicySet, Request, evaluate
from broker.services.audit import ANONYMOUS, Actor, record_event
from broker.services.auth import (
    Caller,
    applicable_policies,
    authenticate,
    caller_for_claims,
    request_context,
    with_resource_keys,
)
from broker.services.federation import ClientInfo
from broker.services.orgs.context import resource_account
from broker.services.runtime import Runtime

__all__ = [
    "EVENT_NAME",
    "EVENT_SOURCE",
    "MAX_BATCH",
    "PROTECTED_CONTEXT_KEYS",
    "SIGV4_SERVICE",
    "Answer",
    "DecisionApiError",
    "DecisionQuery",
    "HttpRequest",
    "Outcome",
    "answer",
    "decide",
    "principal_type",
    "read_queries",
    "record_refusal",
]

EVENT_SOURCE: Final = "decisions.broker"
EVENT_NAME: Final = "Decide"
SIGV4_SERVICE: Final = "execute-api"

# Limits of the decision API. They bound the work one request can ask for; the request body
# is also bounded by the app's MAX_CONTENT_LENGTH.
MAX_BATCH: Final = 100
MAX_CONTEXT_KEYS: Final = 100
MAX_CONTEXT_KEY_LENGTH: Final = 256
MAX_CONTEXT_VALUES: Final = 100  # values of one multi-valued key
MAX_CONTEXT_TEXT: Final = 2048  # characters of one string value
MAX_ACTION_LENGTH: Final = 256
MAX_TOKEN_LENGTH: Final = 64 * 1024

# Keys the broker derives about the principal (and its clock): a request may not supply them,
# or a caller could claim another identity's tags, MFA or federation attributes. Lower-case,
# since condition keys ignore case.
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
_PRESIGN_MARKERS: Final = frozenset({"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature"})

_INVALID_TOKEN = "The security token included in the request is invalid."
_EXPIRED_TOKEN = "The security token included in the request is expired"

# How SigV4 failures map to HTTP: a malformed signature is a bad request, everything else
# means the credentials did not authenticate.
_SIGV4_STATUS: Final = {"IncompleteSignature": 400}


class DecisionApiError(Exception):
    """A refused decision request: ``{"error": {"code", "message"}}`` with ``status``.

    ``challenges`` are the ``WWW-Authenticate`` values of a 401.
    """

    def __init__(self, code: str, message: str, status: int, challenges: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.challenges = challenges

    def __repr__(self) -> str:
        return f"DecisionApiError({self.code!r}, {self.message!r}, {self.status})"


_BEARER_CHALLENGE = 'Bearer realm="broker"'
_SIGV4_CHALLENGE = "AWS4-HMAC-SHA256"


def _invalid(message: str) -> NoReturn:
    raise DecisionApiError("ValidationError", message, 400)


def _shown(value: str, limit: int = 128) -> str:
    """A caller-supplied string as messages quote it: shortened, control characters escaped."""
    text = value if len(value) <= limit else value[:limit] + "..."
    return json.dumps(text)


@dataclass(frozen=True)
class HttpRequest:
    """What the decision endpoint needs of an HTTP request; ``path`` is raw, as sent."""

    method: str
    path: str
    query_string: str
    headers: Mapping[str, str]
    body: bytes
    secure: bool
    client: ClientInfo


@dataclass(frozen=True)
class DecisionQuery:
    action: str
    resource: str
    context: Mapping[str, ContextValue] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    query: DecisionQuery
    decision: Decision


@dataclass(frozen=True)
class Answer:
    caller: Caller
    outcomes: tuple[Outcome, ...]
    batch: bool
    request_id: str


def principal_type(caller: Caller) -> str:
    """CloudTrail's ``userIdentity.type``: GetSessionToken credentials act as the IAM user."""
    return "AssumedRole" if caller.is_role_session else "IAMUser"


# --- Authentication ------------------------------------------------------------------------


def _folded(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def _is_presigned(query_string: str) -> bool:
    return any(name in _PRESIGN_MARKERS for name, _ in parse_qsl(query_string, keep_blank_values=True))


def _scheme_name(http: HttpRequest) -> str:
    """How the request tries to authenticate, for the audit record."""
    scheme = _folded(http.headers).get("authorization", "").strip().partition(" ")[0]
    if scheme.lower() == "bearer":
        return "Bearer"
    if scheme or _is_presigned(http.query_string):
        return "SigV4"
    return "None"


def _bearer_token(http: HttpRequest) -> str | None:
    """The bearer token, if the request uses that scheme; None for SigV4 (or no credentials)."""
    headers = _folded(http.headers)
    scheme, _, token = headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    if _is_presigned(http.query_string) or "x-amz-security-token" in headers:
        raise DecisionApiError(
            "InvalidRequest",
            "Only one authentication mechanism is allowed: a bearer token or a SigV4 signature, not both.",
            400,
        )
    token = token.strip()
    if not token:
        raise DecisionApiError(
            "MissingAuthenticationToken",
            "The Authorization header names Bearer but carries no token.",
            401,
            (_BEARER_CHALLENGE + ', error="invalid_request"',),
        )
    return token


def _bearer_caller(runtime: Runtime, session: Session, token: str) -> Caller:
    challenge = (_BEARER_CHALLENGE + ', error="invalid_token"',)
    if len(token) > MAX_TOKEN_LENGTH:
        raise DecisionApiError("InvalidClientTokenId", _INVALID_TOKEN, 401, challenge)
    try:
        claims = decode_session_token(
            token, runtime.keys.token_keys, runtime.settings.base_url, now=runtime.now().timestamp()
        )
    except ExpiredSessionToken:
        raise DecisionApiError("ExpiredToken", _EXPIRED_TOKEN, 401, challenge) from None
    except InvalidSessionToken:
        raise DecisionApiError("InvalidClientTokenId", _INVALID_TOKEN, 401, challenge) from None
    # The same caller a SigV4 request with these temporary credentials would be.
    return caller_for_claims(session, claims)


def _auth_refusal(code: str, message: str) -> DecisionApiError:
    status = _SIGV4_STATUS.get(code, 401)
    challenges = (_SIGV4_CHALLENGE, _BEARER_CHALLENGE) if code == "MissingAuthenticationToken" else (_SIGV4_CHALLENGE,)
    return DecisionApiError(code, message, status, challenges if status == 401 else ())


def _signature_caller(runtime: Runtime, session: Session, http: HttpRequest) -> Caller:
    # Scope check first, before any key lookup: a signature for another service (iam, sts) is
    # not a decision request, whoever made it.
    try:
        parse_signed_request(
            http.method, http.path, http.query_string, http.headers, http.body, services={SIGV4_SERVICE}
        )
    except SigV4Error as exc:
        raise _auth_refusal(exc.code, exc.message) from None
    try:
        caller, _signed = authenticate(
            runtime, session, http.method, http.path, http.query_string, http.headers, http.body
        )
    except AwsError as exc:
        raise _auth_refusal(exc.code, exc.message) from None
    return caller


def _check_media_type(http: HttpRequest) -> None:
    content_type = _folded(http.headers).get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type and content_type != "application/json" and not content_type.endswith("+json"):
        raise DecisionApiError(
            "UnsupportedMediaType", f"The body must be application/json, not {_shown(content_type)}.", 415
        )


# --- Reading the request body ----------------------------------------------------------------


class _DuplicateKey(ValueError):
    pass


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(f"the key {_shown(key)} appears twice in one object")
        result[key] = value
    return result


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def _load_body(body: bytes) -> dict[str, Any]:
    if not body.strip():
        raise DecisionApiError("MalformedRequest", "The request body is empty; send a JSON object.", 400)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise DecisionApiError("MalformedRequest", "The request body is not UTF-8.", 400) from None
    try:
        document = json.loads(text, object_pairs_hook=_object_without_duplicates, parse_constant=_reject_constant)
    except _DuplicateKey as exc:
        raise DecisionApiError("MalformedRequest", f"The request body is ambiguous: {exc}.", 400) from None
    except json.JSONDecodeError as exc:
        raise DecisionApiError(
            "MalformedRequest",
            f"The request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}.",
            400,
        ) from None
    except (ValueError, RecursionError) as exc:
        reason = "it is nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise DecisionApiError("MalformedRequest", f"The request body is not valid JSON: {reason}.", 400) from None
    if not isinstance(document, dict):
        raise DecisionApiError("MalformedRequest", "The request body must be a JSON object.", 400)
    return document


def read_queries(body: bytes) -> tuple[tuple[DecisionQuery, ...], bool]:
    """The decision queries of a request body, and whether it was the batch form."""
    document = _load_body(body)
    if "requests" in document:
        extra = sorted(set(document) - {"requests"})
        if extra:
            _invalid(f'A batch request has only the field "requests"; remove {", ".join(_shown(k) for k in extra)}.')
        entries = document["requests"]
        if not isinstance(entries, list):
            _invalid("requests: must be an array of decision requests.")
        if not 1 <= len(entries) <= MAX_BATCH:
            _invalid(f"requests: must hold 1 to {MAX_BATCH} decision requests, not {len(entries)}.")
        return tuple(_query(entry, f"requests[{index}]") for index, entry in enumerate(entries)), True
    return (_query(document, "request"),), False


def _query(entry: object, where: str) -> DecisionQuery:
    if not isinstance(entry, dict):
        _invalid(f"{where}: must be an object with action, resource and optional context.")
    unknown = sorted(set(entry) - _SINGLE_FIELDS)
    if unknown:
        _invalid(
            f"{where}: unknown field {', '.join(_shown(k) for k in unknown)}; "
            "the fields are action, resource and context."
        )
    for name in ("action", "resource"):
        if name not in entry:
            _invalid(f"{where}: the field {name} is required.")
    resource = _resource(entry["resource"], f"{where}.resource")
    context = _context(entry.get("context", {}), f"{where}.context")
    if resource_account(resource) is not None:
        # The ARN names its account: the broker derives both keys, and an SCP keyed on them must
        # not be talked out of its deny.
        for key in context:
            if key.lower() in _RESOURCE_ACCOUNT_KEYS:
                raise DecisionApiError(
                    "ProtectedContextKey",
                    f"{where}.context[{_shown(key)}]: the broker derives this key from the account the "
                    "resource ARN names; a request can set it only for ARNs that name no account.",
                    400,
                )
    return DecisionQuery(action=_action(entry["action"], f"{where}.action"), resource=resource, context=context)


def _action(value: object, where: str) -> str:
    if not isinstance(value, str):
        _invalid(f'{where}: must be a string such as "s3:GetObject".')
    if len(value) > MAX_ACTION_LENGTH or not _ACTION.fullmatch(value):
        _invalid(
            f'{where}: {_shown(value)} is not an action; expected "service:ActionName" '
            "(letters, digits, '-', '_' and '.'; no wildcards: a request names one action)."
        )
    return value


def _resource(value: object, where: str) -> str:
    if not isinstance(value, str):
        _invalid(f'{where}: must be a string: an ARN, or "*" for actions without a resource.')
    if value == "*":
        return value
    if len(value) > limits.ARN_MAX:
        _invalid(f"{where}: longer than {limits.ARN_MAX} characters.")
    try:
        Arn.parse(value)
    except InvalidArn as exc:
        _invalid(f"{where}: {exc.message}.")
    return value


def _context(value: object, where: str) -> dict[str, ContextValue]:
    if not isinstance(value, dict):
        _invalid(f"{where}: must be an object mapping condition keys to values.")
    if len(value) > MAX_CONTEXT_KEYS:
        _invalid(f"{where}: at most {MAX_CONTEXT_KEYS} keys, not {len(value)}.")
    context: dict[str, ContextValue] = {}
    seen: dict[str, str] = {}
    for key, raw in value.items():
        place = f"{where}[{_shown(key)}]"
        if len(key) > MAX_CONTEXT_KEY_LENGTH or not _CONTEXT_KEY.fullmatch(key):
            _invalid(f'{place}: not a condition key; expected "prefix:name" such as "aws:SourceIp".')
        lowered = key.lower()
        if lowered in PROTECTED_CONTEXT_KEYS or lowered.startswith(PROTECTED_CONTEXT_PREFIXES):
            raise DecisionApiError(
                "ProtectedContextKey",
                f"{place}: the broker derives this key (from the credentials or its own clock); "
                "a request cannot set it.",
                400,
            )
        if lowered in seen:
            _invalid(f"{place}: the same key as {_shown(seen[lowered])} (condition keys ignore case).")
        seen[lowered] = key
        context[key] = _context_value(raw, place)
    return context


def _context_value(raw: object, place: str) -> ContextValue:
    if isinstance(raw, list):
        if len(raw) > MAX_CONTEXT_VALUES:
            _invalid(f"{place}: at most {MAX_CONTEXT_VALUES} values, not {len(raw)}.")
        return [_scalar(item, f"{place}[{index}]") for index, item in enumerate(raw)]
    return _scalar(raw, place)


def _scalar(raw: object, place: str) -> ContextScalar:
    if isinstance(raw, str):
        if len(raw) > MAX_CONTEXT_TEXT:
            _invalid(f"{place}: a value of at most {MAX_CONTEXT_TEXT} characters.")
        return raw
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int | float):
        if not math.isfinite(raw):
            _invalid(f"{place}: numbers must be finite.")
        return raw
    if raw is None:
        _invalid(f"{place}: null is not a value; leave the key out when it has none.")
    _invalid(f"{place}: a value is a string, number, boolean or an array of those.")


# --- Deciding ----------------------------------------------------------------------------------


def _merged_context(base: Mapping[str, Any], supplied: Mapping[str, ContextValue]) -> dict[str, Any]:
    # A supplied key replaces a derived one of any spelling (keys ignore case); protected
    # keys were refused while reading the request.
    replaced = {key.lower() for key in supplied}
    merged = {key: value for key, value in base.items() if key.lower() not in replaced}
    merged.update(supplied)
    return merged


def decide(
    session: Session,
    caller: Caller,
    queries: Sequence[DecisionQuery],
    base_context: Mapping[str, Any],
) -> tuple[Outcome, ...]:
    """Evaluate each query for the caller, with the derived context plus the query's own keys."""
    # The policies the broker's own authorization uses: identity (user and groups, or role),
    # permissions boundary, session policies.
    policies = applicable_policies(session, caller)
    # One PolicySet per resource account: its per-action plans are reused across the batch.
    policy_sets: dict[str, PolicySet] = {}
    outcomes = []
    for query in queries:
        account = resource_account(query.resource) or caller.account_id
        policy_set = policy_sets.get(account)
        if policy_set is None:
            policy_set = policies.policy_set(account)
            policy_sets[account] = policy_set
        request = Request(
            principal=caller.principal,
            action=query.action,
            resource=query.resource,
            context=_merged_context(with_resource_keys(session, caller, query.resource, base_context), query.context),
        )
        outcomes.append(Outcome(query, evaluate(request, policy_set)))
    return tuple(outcomes)


# --- The endpoint's use case ---------------------------------------------------------------------


def answer(runtime: Runtime, http: HttpRequest) -> Answer:
    """Authenticate, read, decide and audit one decision request.

    Raises :class:`DecisionApiError` (already audited) when the request is refused.
    """
    actor: Actor = ANONYMOUS
    method = _scheme_name(http)
    try:
        _check_media_type(http)
        token = _bearer_token(http)
        with runtime.db.transaction() as session:
            caller = (
                _signature_caller(runtime, session, http) if token is None else _bearer_caller(runtime, session, token)
            )
            actor = caller.actor()
            queries, batch = read_queries(http.body)
            now = runtime.now()
            base_context = request_context(caller, http.client.source_ip, now, http.secure, session)
            outcomes = decide(session, caller, queries, base_context)
            _audit(runtime, session, http.client, actor, method, queries, batch, outcomes, None)
            return Answer(caller, outcomes, batch, http.client.request_id)
    except DecisionApiError as exc:
        record_refusal(runtime, http.client, exc, actor=actor, method=method)
        raise


def record_refusal(
    runtime: Runtime, client: ClientInfo, error: DecisionApiError, *, actor: Actor = ANONYMOUS, method: str = "Unknown"
) -> None:
    """Audit a refused decision request, in a transaction of its own."""
    with runtime.db.transaction() as session:
        _audit(runtime, session, client, actor, method, None, False, None, error)


def _audit(
    runtime: Runtime,
    session: Session,
    client: ClientInfo,
    actor: Actor,
    method: str,
    queries: Sequence[DecisionQuery] | None,
    batch: bool,
    outcomes: Sequence[Outcome] | None,
    error: DecisionApiError | None,
) -> None:
    # Context values may be personal data (addresses, tags): the record keeps their keys.
    parameters: dict[str, Any] | None = None
    if queries is not None:
        described = [{"action": q.action, "resource": q.resource, "contextKeys": sorted(q.context)} for q in queries]
        parameters = {"requests": described} if batch else described[0]
    response: dict[str, Any] | None = None
    if outcomes is not None:
        decisions = [o.decision.effect.value for o in outcomes]
        response = {"decisions": decisions} if batch else {"decision": decisions[0]}
    resources = sorted({q.resource for q in queries or () if q.resource != "*"})
    record_event(
        session,
        event_name=EVENT_NAME,
        event_source=EVENT_SOURCE,
        actor=actor,
        now=runtime.now(),
        region=runtime.settings.region,
        source_ip=client.source_ip,
        user_agent=client.user_agent,
        request_id=client.request_id,
        request_parameters=parameters,
        response_elements=response,
        error_code=error.code if error else None,
        error_message=error.message if error else None,
        read_only=True,
        resources=[{"ARN": arn} for arn in resources] or None,
        additional={"authenticationMethod": method},
    )
