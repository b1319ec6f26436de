"""May the caller do this: the policy engine's decision, and AccessDenied in AWS's words."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from broker.iam.errors import AwsError
from broker.policy import Decision, Effect, Policy, PolicySet, Principal, Request, evaluate
from broker.services.auth.caller import Caller
from broker.services.auth.context import with_resource_keys
from broker.services.auth.policies import applicable_policies
from broker.services.auth.reasons import why_denied
from broker.store import Tx


@dataclass(frozen=True, slots=True)
class CallerDecision(Decision):
    """The engine's decision for a caller, with the policies it weighed: they say why it denied."""

    policies: PolicySet = field(kw_only=True, repr=False, compare=False)
    principal: Principal = field(kw_only=True, repr=False, compare=False)

    @classmethod
    def weighed(cls, decision: Decision, policies: PolicySet, principal: Principal) -> CallerDecision:
        outcome = {item.name: getattr(decision, item.name) for item in fields(decision) if item.init}
        return cls(**outcome, policies=policies, principal=principal)

    def why(self, action: str) -> str:
        """The end of AccessDenied's message: where the deny was, or what failed to allow."""
        return why_denied(self, self.policies, self.principal, action)


def decide(
    tx: Tx,
    caller: Caller,
    action: str,
    resource: str,
    context: Mapping[str, Any],
    *,
    resource_policies: Sequence[Policy] = (),
    resource_account: str | None = None,
) -> CallerDecision:
    """The policy engine's decision for the caller, with any resource-based policy (a trust policy)."""
    policy_set = applicable_policies(tx, caller).policy_set(resource_account or caller.account_id, resource_policies)
    context = with_resource_keys(tx, caller, resource, context)
    request = Request(principal=caller.principal, action=action, resource=resource, context=context)
    return CallerDecision.weighed(evaluate(request, policy_set), policy_set, request.principal)


def _values(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _message_payload(
    caller: Caller, action: str, resource: str, context: Mapping[str, Any], decision: Decision
) -> dict[str, Any]:
    """The decoded form, shaped like AWS's DecodeAuthorizationMessage output."""
    return {
        "allowed": decision.allowed,
        "explicitDeny": decision.effect is Effect.EXPLICIT_DENY,
        "matchedStatements": {
            "items": [
                {
                    "statementId": m.sid or f"Statement[{m.index}]",
                    "effect": m.effect.value.upper(),
                    "policyId": m.policy_id,
                    "policyType": m.policy_type.value,
                }
                for m in decision.matched
            ]
        },
        "failures": {"items": [{"value": reason} for reason in decision.reasons]},
        "context": {
            "principal": {"id": caller.user_id, "name": caller.iam_user_name or caller.arn, "arn": caller.arn},
            "action": action,
            "resource": resource,
            "conditions": {
                "items": [
                    {"key": key, "values": {"items": [{"value": str(v)} for v in _values(value)]}}
                    for key, value in sorted(context.items())
                    if value is not None
                ]
            },
        },
    }


def access_denied(
    caller: Caller,
    action: str,
    resource: str,
    context: Mapping[str, Any],
    decision: CallerDecision,
    why: str | None = None,
) -> AwsError:
    """AccessDenied in AWS's words, with the encoded failure message when the caller can get one.

    ``why`` overrides the reason read from the decision (for refusals the engine alone does not
    make, such as a trust policy that does not name the caller).
    """
    message = f"User: {caller.arn} is not authorized to perform: {action} on resource: {resource} " + (
        why or decision.why(action)
    )
    if caller.messages is not None:
        payload = _message_payload(caller, action, resource, context, decision)
        if why is not None:
            payload["allowed"] = False
            payload["failures"] = {"items": [{"value": why}]}
        message += f". Encoded authorization failure message: {caller.messages.encode(payload, caller.account_id)}"
    return AwsError("AccessDenied", message)


def credential_limit(caller: Caller, action: str) -> str | None:
    """Why the caller's kind of credentials may never call ``action``, whatever any policy says
    (AWS's fixed limits on GetSessionToken and GetFederationToken credentials); None if they may.
    The broker's own authorization and the decision API both ask it, so they cannot disagree."""
    lowered = action.lower()
    if caller.is_session_token and lowered.startswith("iam:") and not (caller.claims and caller.claims.mfa):
        return "GetSessionToken credentials without MFA cannot call the IAM API"
    if caller.is_federated_user and lowered.startswith(("iam:", "sts:")) and lowered != "sts:getcalleridentity":
        return "federated user credentials cannot call the IAM or STS API"
    return None


def authorize(tx: Tx, caller: Caller, action: str, resource: str, context: Mapping[str, Any]) -> None:
    """Raise AccessDenied, in AWS's words, unless the policies allow ``action`` on ``resource``."""
    limit = credential_limit(caller, action)
    if limit is not None:
        if caller.is_session_token:  # AWS answers these as if the token were not valid for IAM
            raise AwsError("InvalidClientTokenId")
        raise AwsError(
            "AccessDenied",
            f"User: {caller.arn} is not authorized to perform: {action} on resource: {resource} because {limit}",
        )
    decision = decide(tx, caller, action, resource, context)
    if not decision.allowed:
        raise access_denied(caller, action, resource, context, decision)
