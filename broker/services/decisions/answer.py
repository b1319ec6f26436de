"""The decision endpoint's use case: authenticate, read, decide and audit one request."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from broker.policy import (
    ContextValue,
    Decision,
    Effect,
    MalformedPolicyDocument,
    PolicySet,
    PolicyType,
    Request,
    evaluate,
)
from broker.services import metrics
from broker.services.audit import AuditScope, AuditWriteFailed, ClientInfo, decision_event_wanted
from broker.services.auth import (
    ApplicablePolicies,
    Bookkeeping,
    Caller,
    HttpRequest,
    applicable_policies,
    credential_limit,
    request_context,
    with_resource_keys,
    write_bookkeeping,
)
from broker.services.decisions.authentication import (
    bearer_caller,
    bearer_token,
    check_media_type,
    scheme_name,
    signature_caller,
)
from broker.services.decisions.errors import DecisionApiError, throttled
from broker.services.decisions.queries import DecisionQuery, read_queries
from broker.services.orgs.context import resource_account
from broker.services.ratelimit import Throttled
from broker.services.runtime import Runtime
from broker.services.trust import compiled_trust_policy
from broker.store import Tx
from broker.store.iam import named

# Actions authorized against the role's trust policy (its resource-based policy), as AssumeRole is.
_TRUST_ACTIONS: Final = frozenset({"sts:assumerole", "sts:tagsession", "sts:setsourceidentity"})

EVENT_SOURCE: Final = "decisions.broker"
EVENT_NAME: Final = "Decide"


@dataclass(frozen=True)
class Outcome:
    """One query and the engine's decision on it."""

    query: DecisionQuery
    decision: Decision


def principal_type(caller: Caller) -> str:
    """CloudTrail's ``userIdentity.type``: GetSessionToken credentials act as the IAM user."""
    return "AssumedRole" if caller.is_role_session else "IAMUser"


def _merged_context(base: Mapping[str, Any], supplied: Mapping[str, ContextValue]) -> dict[str, Any]:
    # A supplied key replaces a derived one of any spelling (keys ignore case); protected
    # keys were refused while reading the request.
    replaced = {key.lower() for key in supplied}
    merged = {key: value for key, value in base.items() if key.lower() not in replaced}
    merged.update(supplied)
    return merged


def decide(
    tx: Tx,
    caller: Caller,
    queries: Sequence[DecisionQuery],
    base_context: Mapping[str, Any],
) -> tuple[Outcome, ...]:
    """Evaluate each query for the caller, with the derived context plus the query's own keys."""
    # The policies the broker's own authorization uses: identity (user and groups, or role),
    # permissions boundary, session policies, SCPs.
    policies = applicable_policies(tx, caller)
    # One PolicySet per resource account: its per-action plans are reused across the batch.
    policy_sets: dict[str, PolicySet] = {}
    outcomes = []
    for query in queries:
        account = resource_account(query.resource) or caller.account_id
        limit = credential_limit(caller, query.action)
        if limit is not None:  # what the broker's own endpoints refuse whatever the policies say
            outcomes.append(Outcome(query, _refused(Effect.EXPLICIT_DENY, f"{limit}: {{request}}", query, account)))
            continue
        request = Request(
            principal=caller.principal,
            action=query.action,
            resource=query.resource,
            context=_merged_context(with_resource_keys(tx, caller, query.resource, base_context), query.context),
        )
        if query.action.lower() in _TRUST_ACTIONS:
            outcomes.append(Outcome(query, _through_trust_policy(tx, policies, request)))
            continue
        policy_set = policy_sets.get(account)
        if policy_set is None:
            policy_set = policies.policy_set(account)
            policy_sets[account] = policy_set
        outcomes.append(Outcome(query, evaluate(request, policy_set)))
    return tuple(outcomes)


def _refused(effect: Effect, reason: str, query: DecisionQuery, account: str) -> Decision:
    return Decision(effect, reason_templates=(reason,), subject=(query.action, query.resource, account))


def _through_trust_policy(tx: Tx, policies: ApplicablePolicies, request: Request) -> Decision:
    """AssumeRole (and TagSession, SetSourceIdentity) as STS decides it: the role's trust policy is
    the request's resource-based policy and must itself allow the caller; identity policies alone
    never let anyone assume a role. A role the broker does not hold (or one in a closed account)
    is refused like an untrusting one, as STS does not say whether a role exists."""
    role = named.assumable_role(tx, request.resource)
    trust = None
    if role is not None:
        try:
            trust = compiled_trust_policy(role.trust_policy)
        except MalformedPolicyDocument:
            trust = None
    account = role.account_id if role is not None else (resource_account(request.resource) or "")
    if role is None or trust is None:
        return Decision(
            Effect.IMPLICIT_DENY,
            reason_templates=("no role trust policy allows {request}",),
            subject=(request.action, request.resource, account),
        )
    decision = evaluate(request, policies.policy_set(role.account_id, (trust,)))
    if decision.allowed and not any(m.policy_type is PolicyType.RESOURCE for m in decision.matched):
        return Decision(
            Effect.IMPLICIT_DENY,
            reason_templates=("the role's trust policy does not allow {request}",),
            subject=(request.action, request.resource, account),
        )
    return decision


@dataclass(frozen=True)
class Answer:
    """What the endpoint renders: who asked, and the outcome of each query in the request's order."""

    caller: Caller
    outcomes: tuple[Outcome, ...]
    batch: bool
    request_id: str


def answer(runtime: Runtime, http: HttpRequest) -> Answer:
    """Authenticate, read, decide and audit one decision request.

    Raises :class:`DecisionApiError` (already audited) when the request is refused. An answered
    request's event commits in the transaction that read the policies (and, for access keys,
    recorded their last use).
    """
    audit = _scope(runtime, http.client, scheme_name(http))
    bookkeeping: list[Bookkeeping] = []
    try:
        check_media_type(http)
        token = bearer_token(http)
        # A decision only reads: no write lock, and from the versioned cache when warm.
        with runtime.db.read() as tx:
            caller = (
                signature_caller(runtime, tx, http, bookkeeping) if token is None else bearer_caller(runtime, tx, token)
            )
            audit.actor = caller.actor()
            _admit(runtime, caller, audit)
            queries, batch = read_queries(http.body)
            _describe(audit, queries, batch)
            base_context = request_context(caller, http.client.source_ip, runtime.now(), http.secure, tx)
            outcomes = decide(tx, caller, queries, base_context)
    except DecisionApiError as exc:
        if exc.account_closed is not None:
            exc.account_closed.noted_in(audit)  # the refusal's event names who was refused, and why
        if not exc.audited:  # a throttled request, counted in its bucket
            write_bookkeeping(runtime, bookkeeping)
            raise
        try:
            _record_refusal(runtime, audit, exc, bookkeeping)
        except AuditWriteFailed as failed:  # not answered unrecorded
            raise DecisionApiError(failed.code, failed.message, failed.status) from failed
        raise
    write_bookkeeping(runtime, bookkeeping)
    metrics.count_decisions(outcome.decision.effect.value for outcome in outcomes)
    # A data event, written by the group-commit writer when the setting asks for it.
    if decision_event_wanted(runtime.settings.audit_decision_events, (o.decision.effect for o in outcomes)):
        decisions = [outcome.decision.effect.value for outcome in outcomes]
        response = {"decisions": decisions} if batch else {"decision": decisions[0]}
        try:
            audit.submit(runtime.audit_writer, runtime.now(), response=response)
        except AuditWriteFailed as exc:  # not answered unrecorded
            raise DecisionApiError(exc.code, exc.message, exc.status) from exc
    return Answer(caller, outcomes, batch, http.client.request_id)


def _admit(runtime: Runtime, caller: Caller, audit: AuditScope) -> None:
    """Charge the request to the caller's own budget (its address's was charged on arrival)."""
    try:
        runtime.rate_limiter.enforce("decisions-principal", caller.arn)
    except Throttled as exc:
        audit.additional = {**(audit.additional or {}), **exc.audit_details}
        raise throttled(exc) from None


def record_refusal(runtime: Runtime, client: ClientInfo, error: DecisionApiError) -> DecisionApiError:
    """Audit a decision request refused before it was read (too large); the refusal to answer
    with: ``error``, or ServiceUnavailable if the trail could not record it."""
    try:
        _record_refusal(runtime, _scope(runtime, client, "Unknown"), error)
    except AuditWriteFailed as failed:
        return DecisionApiError(failed.code, failed.message, failed.status)
    return error


def _scope(runtime: Runtime, client: ClientInfo, method: str) -> AuditScope:
    return AuditScope(
        event_name=EVENT_NAME,
        event_source=EVENT_SOURCE,
        client=client,
        region=runtime.settings.region,
        read_only=True,
        data_event=True,
        additional={"authenticationMethod": method},
    )


def _describe(audit: AuditScope, queries: Sequence[DecisionQuery], batch: bool) -> None:
    # Context values may be personal data (addresses, tags): the record keeps their keys.
    described = [{"action": q.action, "resource": q.resource, "contextKeys": sorted(q.context)} for q in queries]
    audit.request_parameters = {"requests": described} if batch else described[0]
    for resource in sorted({query.resource for query in queries}):
        audit.touch(resource)


def _record_refusal(
    runtime: Runtime, audit: AuditScope, error: DecisionApiError, bookkeeping: Sequence[Bookkeeping] = ()
) -> None:
    # A refused request is a management-plane fact (who failed to authenticate, or sent what),
    # recorded whatever the data-event setting says.
    write_bookkeeping(runtime, bookkeeping)
    audit.submit(runtime.audit_writer, runtime.now(), error=error)
