"""Which kind of policy AccessDenied names, read from the decision's data (never its prose)."""

from __future__ import annotations

import json

import pytest

from broker.policy import Policy, PolicyKind, PolicySet, PolicyType, Principal, Request, evaluate, parse_policy
from broker.services.auth.reasons import missing_allow, why_denied

ACCOUNT = "111111111111"
OTHER = "222222222222"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/Dev"
SESSION = Principal(arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/Dev/alice", role_arn=ROLE, is_session=True)
USER = Principal(arn=f"arn:aws:iam::{ACCOUNT}:user/bob")
ACTION = "sts:AssumeRole"
TARGET = f"arn:aws:iam::{ACCOUNT}:role/Target"


def _policy(kind: PolicyKind, effect: str, name: str, principal: str | None = None) -> Policy:
    statement: dict[str, object] = {"Effect": effect, "Action": "sts:*", "Resource": "*"}
    if principal is not None:
        statement["Principal"] = {"AWS": principal}
    text = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    return parse_policy(text, kind, policy_id=name)


ALLOW = _policy(PolicyKind.IDENTITY, "Allow", "allow")
OTHER_ACTION = parse_policy(
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}',
    PolicyKind.IDENTITY,
    policy_id="other",
)
BOUNDARY_ALLOWS = _policy(PolicyKind.BOUNDARY, "Allow", "boundary")
BOUNDARY_OTHER = parse_policy(OTHER_ACTION.text, PolicyKind.BOUNDARY, policy_id="boundary-other")
SESSION_OTHER = parse_policy(OTHER_ACTION.text, PolicyKind.SESSION, policy_id="session-other")
SCP_ALLOWS = _policy(PolicyKind.SCP, "Allow", "scp-allow")
SCP_OTHER = parse_policy(OTHER_ACTION.text, PolicyKind.SCP, policy_id="scp-other")
TRUSTS_ROLE = _policy(PolicyKind.RESOURCE, "Allow", "trust-role", ROLE)
TRUSTS_ACCOUNT = _policy(PolicyKind.RESOURCE, "Allow", "trust-account", f"arn:aws:iam::{ACCOUNT}:root")


CASES = [
    ("identity allows nothing", USER, PolicySet(identity=(OTHER_ACTION,)), PolicyType.IDENTITY),
    ("no identity policy at all", USER, PolicySet(), PolicyType.IDENTITY),
    ("boundary", USER, PolicySet(identity=(ALLOW,), boundary=BOUNDARY_OTHER), PolicyType.BOUNDARY),
    (
        "identity before boundary",
        USER,
        PolicySet(identity=(OTHER_ACTION,), boundary=BOUNDARY_OTHER),
        PolicyType.IDENTITY,
    ),
    (
        "session policy",
        SESSION,
        PolicySet(identity=(ALLOW,), boundary=BOUNDARY_ALLOWS, session=(SESSION_OTHER,)),
        PolicyType.SESSION,
    ),
    (
        "an SCP level first",
        USER,
        PolicySet(identity=(OTHER_ACTION,), scps=((SCP_ALLOWS,), (SCP_OTHER,))),
        PolicyType.SCP,
    ),
    ("every SCP level allows", USER, PolicySet(identity=(OTHER_ACTION,), scps=((SCP_ALLOWS,),)), PolicyType.IDENTITY),
    (
        "a trust naming the role binds the session to its boundary",
        SESSION,
        PolicySet(resource=(TRUSTS_ROLE,), boundary=BOUNDARY_OTHER, resource_account=ACCOUNT),
        PolicyType.BOUNDARY,
    ),
    (
        "... and to its session policies",
        SESSION,
        PolicySet(resource=(TRUSTS_ROLE,), session=(SESSION_OTHER,), resource_account=ACCOUNT),
        PolicyType.SESSION,
    ),
    (
        "a trust naming the account delegates to identity policies",
        SESSION,
        PolicySet(resource=(TRUSTS_ACCOUNT,), resource_account=ACCOUNT),
        PolicyType.IDENTITY,
    ),
    (
        "... whose boundary must still allow",
        USER,
        PolicySet(identity=(ALLOW,), resource=(TRUSTS_ACCOUNT,), boundary=BOUNDARY_OTHER, resource_account=ACCOUNT),
        PolicyType.BOUNDARY,
    ),
    (
        "across accounts the resource side too",
        USER,
        PolicySet(identity=(ALLOW,), resource_account=OTHER),
        PolicyType.RESOURCE,
    ),
    (
        "across accounts identity first",
        USER,
        PolicySet(identity=(OTHER_ACTION,), resource=(TRUSTS_ACCOUNT,), resource_account=OTHER),
        PolicyType.IDENTITY,
    ),
]


@pytest.mark.parametrize(("principal", "policies", "expected"), [case[1:] for case in CASES], ids=[c[0] for c in CASES])
def test_the_policy_type_that_failed_to_allow(principal: Principal, policies: PolicySet, expected: PolicyType) -> None:
    decision = evaluate(Request(principal=principal, action=ACTION, resource=TARGET), policies)
    assert not decision.allowed
    assert missing_allow(decision, policies, principal) is expected


def test_the_message_names_the_kind_of_policy() -> None:
    policies = PolicySet(identity=(ALLOW,), boundary=BOUNDARY_OTHER)
    decision = evaluate(Request(principal=USER, action=ACTION, resource=TARGET), policies)
    assert why_denied(decision, policies, USER, ACTION) == f"because no permissions boundary allows the {ACTION} action"


def test_an_explicit_deny_names_where_it_is() -> None:
    policies = PolicySet(identity=(ALLOW,), session=(_policy(PolicyKind.SESSION, "Deny", "deny"),))
    decision = evaluate(Request(principal=SESSION, action=ACTION, resource=TARGET), policies)
    assert why_denied(decision, policies, SESSION, ACTION) == "with an explicit deny in a session policy"
