"""Evaluation: invariants (hypothesis), the trust-policy call the STS service makes, PolicySet checks."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.policy import (
    Decision,
    Effect,
    PolicyKind,
    PolicySet,
    PolicyType,
    Principal,
    Request,
    StatementEffect,
    evaluate,
    parse_policy,
)

ACCOUNT = "111122223333"
OTHER = "444455556666"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/Dev"
PROVIDER = f"arn:aws:iam::{ACCOUNT}:saml-provider/Okta"

PRINCIPALS = [
    Principal(arn=f"arn:aws:iam::{ACCOUNT}:user/alice"),
    Principal(arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/Dev/alice", role_arn=ROLE, is_session=True),
    Principal(arn=f"arn:aws:iam::{OTHER}:user/carol"),
    Principal(federated=PROVIDER),
    Principal(),
]
ACTIONS = ["s3:GetObject", "s3:PutObject", "ec2:RunInstances", "iam:CreateUser"]
RESOURCES = ["arn:aws:s3:::b/alice/k", "arn:aws:s3:::b/k", "arn:aws:s3:::other/k", "*"]
CONTEXTS: list[dict[str, Any]] = [
    {},
    {"aws:username": "alice", "aws:PrincipalTag/team": "red", "aws:TagKeys": ["team"]},
    {"aws:username": "bob", "aws:PrincipalTag/team": "blue", "aws:SourceIp": "10.0.0.1", "aws:TagKeys": []},
]

action_patterns = st.sampled_from(["s3:GetObject", "s3:Get*", "s3:*", "*", "ec2:*", "s3:PutObject", "iam:*"])
resource_patterns = st.sampled_from(
    ["*", "arn:aws:s3:::b/*", "arn:aws:s3:::b/k", "arn:aws:s3:::other/*", "arn:aws:s3:::b/${aws:username}/*"]
)
conditions = st.sampled_from(
    [
        None,
        {"StringEquals": {"aws:PrincipalTag/team": "red"}},
        {"StringNotEquals": {"aws:PrincipalTag/team": "red"}},
        {"ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}},
        {"ForAnyValue:StringLike": {"aws:TagKeys": "t*"}},
        {"Null": {"aws:SourceIp": "true"}},
        {"IpAddressIfExists": {"aws:SourceIp": "10.0.0.0/8"}},
        {"StringLike": {"aws:username": "${aws:PrincipalTag/team}*"}},
    ]
)
principal_elements = st.sampled_from(
    [
        "*",
        {"AWS": ACCOUNT},
        {"AWS": OTHER},
        {"AWS": ROLE},
        {"AWS": PRINCIPALS[0].arn},
        {"Federated": PROVIDER},
    ]
)


@st.composite
def statements(draw: st.DrawFn, effect: str | None = None, with_principal: bool = False) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": effect or draw(st.sampled_from(["Allow", "Deny"]))}
    if with_principal:
        key = draw(st.sampled_from(["Principal", "Principal", "NotPrincipal"]))
        statement[key] = draw(principal_elements)
    statement["NotAction" if draw(st.booleans()) and draw(st.booleans()) else "Action"] = draw(action_patterns)
    statement["NotResource" if draw(st.booleans()) and draw(st.booleans()) else "Resource"] = draw(resource_patterns)
    condition = draw(conditions)
    if condition is not None:
        statement["Condition"] = condition
    return statement


def documents(with_principal: bool = False) -> st.SearchStrategy[list[dict[str, Any]]]:
    return st.lists(statements(with_principal=with_principal), min_size=1, max_size=3)


@st.composite
def policy_specs(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "identity": draw(st.lists(documents(), max_size=3)),
        "resource": draw(st.lists(documents(with_principal=True), max_size=2)),
        "boundary": draw(st.none() | documents()),
        "session": draw(st.lists(documents(), max_size=2)),
        "scps": draw(st.none() | st.lists(st.lists(documents(), min_size=1, max_size=2), min_size=1, max_size=3)),
        "resource_account": draw(st.sampled_from([None, ACCOUNT, OTHER])),
    }


def _policy(statements_: list[dict[str, Any]], kind: PolicyKind, policy_id: str):
    return parse_policy(json.dumps({"Version": "2012-10-17", "Statement": statements_}), kind, policy_id)


def build(spec: dict[str, Any]) -> PolicySet:
    return PolicySet(
        identity=[_policy(doc, PolicyKind.IDENTITY, f"i{n}") for n, doc in enumerate(spec["identity"])],
        resource=[_policy(doc, PolicyKind.RESOURCE, f"r{n}") for n, doc in enumerate(spec["resource"])],
        boundary=None if spec["boundary"] is None else _policy(spec["boundary"], PolicyKind.BOUNDARY, "b"),
        session=[_policy(doc, PolicyKind.SESSION, f"s{n}") for n, doc in enumerate(spec["session"])],
        scps=None
        if spec["scps"] is None
        else [
            [_policy(doc, PolicyKind.SCP, f"o{d}.{n}") for n, doc in enumerate(level)]
            for d, level in enumerate(spec["scps"])
        ],
        resource_account=spec["resource_account"],
    )


requests = st.builds(
    Request,
    principal=st.sampled_from(PRINCIPALS),
    action=st.sampled_from(ACTIONS),
    resource=st.sampled_from(RESOURCES),
    context=st.sampled_from(CONTEXTS),
)


@st.composite
def with_added_statement(draw: st.DrawFn, effect: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A spec and a copy with one more statement of ``effect`` somewhere."""
    spec = draw(policy_specs())
    changed = json.loads(json.dumps(spec))
    slots = ["identity-new", "identity", "resource", "boundary", "session", "scps"]
    slot = draw(st.sampled_from(slots))
    if slot == "identity-new" or (slot in ("identity", "resource", "session") and not changed[slot]):
        slot = "identity-new" if slot != "resource" else slot
    if slot == "identity-new":
        changed["identity"].append([draw(statements(effect=effect))])
    elif slot == "resource":
        if changed["resource"]:
            changed["resource"][0].append(draw(statements(effect=effect, with_principal=True)))
        else:
            changed["resource"].append([draw(statements(effect=effect, with_principal=True))])
    elif slot in ("identity", "session"):
        changed[slot][draw(st.integers(0, len(changed[slot]) - 1))].append(draw(statements(effect=effect)))
    elif slot == "boundary":
        if changed["boundary"] is None:
            changed["identity"].append([draw(statements(effect=effect))])
        else:
            changed["boundary"].append(draw(statements(effect=effect)))
    elif changed["scps"]:
        level = changed["scps"][draw(st.integers(0, len(changed["scps"]) - 1))]
        level[0].append(draw(statements(effect=effect)))
    else:
        changed["identity"].append([draw(statements(effect=effect))])
    return spec, changed


@settings(max_examples=250, deadline=None)
@given(with_added_statement("Deny"), requests)
def test_adding_a_deny_never_turns_a_decision_into_allow(
    specs: tuple[dict[str, Any], dict[str, Any]], request: Request
) -> None:
    before = evaluate(request, build(specs[0])).effect
    after = evaluate(request, build(specs[1])).effect
    # A Deny can only add an explicit deny: the outcome stays or becomes ExplicitDeny.
    assert after in (before, Effect.EXPLICIT_DENY)


@settings(max_examples=250, deadline=None)
@given(with_added_statement("Allow"), requests)
def test_adding_an_allow_never_changes_an_explicit_deny(
    specs: tuple[dict[str, Any], dict[str, Any]], request: Request
) -> None:
    before = evaluate(request, build(specs[0])).effect
    after = evaluate(request, build(specs[1])).effect
    if before is Effect.EXPLICIT_DENY:
        assert after is Effect.EXPLICIT_DENY
    if before is Effect.ALLOW:
        assert after is Effect.ALLOW


@settings(max_examples=200, deadline=None)
@given(policy_specs(), requests)
def test_decisions_are_consistent(spec: dict[str, Any], request: Request) -> None:
    decision = evaluate(request, build(spec))
    assert decision.allowed == (decision.effect is Effect.ALLOW)
    assert decision.reasons
    effects = {matched.effect for matched in decision.matched}
    if decision.effect is Effect.EXPLICIT_DENY:
        assert effects == {StatementEffect.DENY}
    else:
        assert effects <= {StatementEffect.ALLOW}
    assert evaluate(request, build(spec)) == decision


# -- the calls the rest of the broker makes ------------------------------------------------

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "TrustOkta",
                "Effect": "Allow",
                "Principal": {"Federated": PROVIDER},
                "Action": ["sts:AssumeRoleWithSAML", "sts:TagSession"],
                "Condition": {"StringEquals": {"SAML:aud": "https://broker.example.com/saml/acs"}},
            }
        ],
    }
)


def assume_role_with_saml(context: dict[str, Any], provider: str = PROVIDER) -> Decision:
    trust_policy = parse_policy(TRUST, PolicyKind.TRUST, f"{ROLE}#trust")
    return evaluate(
        Request(
            principal=Principal(federated=provider),
            action="sts:AssumeRoleWithSAML",
            resource=ROLE,
            context=context,
        ),
        PolicySet(resource=(trust_policy,), resource_account=ACCOUNT),
    )


def test_trust_policy_alone_grants_assume_role_with_saml() -> None:
    decision = assume_role_with_saml({"saml:aud": "https://broker.example.com/saml/acs"})
    assert decision.effect is Effect.ALLOW
    assert [(m.policy_id, m.sid, m.policy_type) for m in decision.matched] == [
        (f"{ROLE}#trust", "TrustOkta", PolicyType.RESOURCE)
    ]


def test_trust_policy_refuses_a_wrong_audience_or_provider() -> None:
    assert assume_role_with_saml({"saml:aud": "https://other"}).effect is Effect.IMPLICIT_DENY
    decision = assume_role_with_saml({}, provider=f"arn:aws:iam::{ACCOUNT}:saml-provider/Other")
    assert decision.effect is Effect.IMPLICIT_DENY
    assert any("no resource-based policy allows sts:AssumeRoleWithSAML" in reason for reason in decision.reasons)


def test_missing_context_keys_are_reported_for_the_trust_policy() -> None:
    assert assume_role_with_saml({}).missing_context_keys == ("SAML:aud",)


def test_policy_set_rejects_policies_in_the_wrong_place() -> None:
    identity = parse_policy(
        json.dumps({"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}), PolicyKind.IDENTITY
    )
    trust = parse_policy(TRUST, PolicyKind.TRUST)
    with pytest.raises(ValueError, match=r"PolicySet\.resource: identity policies cannot be used here"):
        PolicySet(resource=(identity,))
    with pytest.raises(ValueError, match=r"PolicySet\.identity"):
        PolicySet(identity=(trust,))
    with pytest.raises(ValueError, match=r"PolicySet\.scps"):
        PolicySet(scps=[[identity]])
    with pytest.raises(TypeError, match="expected Policy objects"):
        PolicySet(identity=("text",))  # type: ignore[list-item]


def test_policy_sets_are_hashable_and_normalise_to_tuples() -> None:
    identity = parse_policy(
        json.dumps({"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}), PolicyKind.IDENTITY
    )
    one = PolicySet(identity=[identity], scps=[[]])
    assert one.identity == (identity,)
    assert one.scps == ((),)
    assert hash(one) == hash(PolicySet(identity=(identity,), scps=((),)))


def test_reasons_for_explicit_deny_name_the_statement() -> None:
    policy = parse_policy(
        json.dumps({"Statement": [{"Sid": "Stop", "Effect": "Deny", "Action": "*", "Resource": "*"}]}),
        PolicyKind.IDENTITY,
        "guard",
    )
    decision = evaluate(Request(PRINCIPALS[0], "s3:GetObject", "*"), PolicySet(identity=(policy,)))
    assert decision.reasons == ("explicitly denied by identity policy 'guard' statement 'Stop'",)
