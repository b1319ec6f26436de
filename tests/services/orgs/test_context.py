"""What an organization adds to decisions: SCP levels in order, exemptions, org condition keys.

Runs on SQLite and PostgreSQL through the services (no HTTP), so each rule is checked at the
layer that implements it.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from broker.iam import orgs
from broker.iam.errors import AwsError
from broker.services.auth import Caller, decide, request_context
from broker.services.orgs import policies as scps
from broker.services.orgs import structure
from broker.services.orgs.context import NO_ORGANIZATION, account_context, resource_keys
from broker.services.runtime import Runtime
from broker.store import models
from tests.support.brokers import make_runtime, make_settings

MANAGEMENT = "123456789012"
NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def rt(tmp_path: Path, keys_dir: Path, database_url: str) -> Iterator[Runtime]:
    runtime = make_runtime(make_settings(tmp_path, keys_dir, database_url, "http://127.0.0.1:9"))
    yield runtime
    runtime.db.dispose()


@dataclass
class Tree:
    org_id: str
    root: str
    top: str
    middle: str
    member: str


def _scp_text(*statements: dict[str, object]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _build(rt: Runtime, *, enable: bool = True) -> Tree:
    with rt.db.transaction() as session:
        organization = structure.create_organization(session, MANAGEMENT, "ALL", NOW)
        root = structure.root_of(session, organization).id
        if not enable:  # all features: SCPs start enabled, as in AWS
            scps.disable_policy_type(session, MANAGEMENT, root, orgs.SERVICE_CONTROL_POLICY)
        _, top = structure.create_organizational_unit(session, MANAGEMENT, root, "Top", None, NOW)
        _, middle = structure.create_organizational_unit(session, MANAGEMENT, top.id, "Middle", None, NOW)
        request = structure.create_account(
            session, MANAGEMENT, email="m@example.com", account_name="Member", role_name=None, tags=None, now=NOW
        )
        assert request.state == "SUCCEEDED" and request.account_id is not None
        structure.move_account(session, MANAGEMENT, request.account_id, root, middle.id)
        return Tree(organization.id, root, top.id, middle.id, request.account_id)


def _attach(rt: Runtime, name: str, target: str, *statements: dict[str, object]) -> str:
    with rt.db.transaction() as session:
        _, policy = scps.create_policy(
            session,
            MANAGEMENT,
            name=name,
            description="",
            content=_scp_text(*statements),
            policy_type=orgs.SERVICE_CONTROL_POLICY,
            tags=None,
            now=NOW,
        )
        scps.attach_policy(session, MANAGEMENT, policy.id, target)
        return policy.id


def test_levels_run_from_the_root_to_the_account_each_with_its_own_policies(rt: Runtime) -> None:
    tree = _build(rt)
    deny_id = _attach(rt, "DenyS3", tree.middle, {"Effect": "Deny", "Action": "s3:*", "Resource": "*"})
    with rt.db.transaction() as session:
        context = account_context(session, tree.member)
    assert context.org_id == tree.org_id
    assert context.path == f"{tree.org_id}/{tree.root}/{tree.top}/{tree.middle}/"
    assert context.scp_levels is not None
    ids = [[policy.policy_id.rsplit("/", 1)[-1] for policy in level] for level in context.scp_levels]
    assert ids == [
        [orgs.FULL_AWS_ACCESS_ID],
        [orgs.FULL_AWS_ACCESS_ID],
        sorted([orgs.FULL_AWS_ACCESS_ID, deny_id]),
        [orgs.FULL_AWS_ACCESS_ID],
    ]


def test_management_account_is_in_the_organization_but_not_bound(rt: Runtime) -> None:
    tree = _build(rt)
    with rt.db.transaction() as session:
        context = account_context(session, MANAGEMENT)
    assert context.org_id == tree.org_id
    assert context.path == f"{tree.org_id}/{tree.root}/"
    assert context.scp_levels is None


def test_scps_bind_only_while_the_policy_type_is_enabled(rt: Runtime) -> None:
    tree = _build(rt, enable=False)
    with rt.db.transaction() as session:
        assert account_context(session, tree.member).scp_levels is None
        scps.enable_policy_type(session, MANAGEMENT, tree.root, orgs.SERVICE_CONTROL_POLICY)
    with rt.db.transaction() as session:
        levels = account_context(session, tree.member).scp_levels
        assert levels is not None and len(levels) == 4
        scps.disable_policy_type(session, MANAGEMENT, tree.root, orgs.SERVICE_CONTROL_POLICY)
    with rt.db.transaction() as session:
        assert account_context(session, tree.member).scp_levels is None
        assert session.query(models.OrganizationPolicyAttachment).count() == 0


def test_accounts_outside_any_organization(rt: Runtime) -> None:
    _build(rt)
    with rt.db.transaction() as session:
        assert account_context(session, "210987654321") == NO_ORGANIZATION
        assert resource_keys(session, "arn:aws:iam::210987654321:role/x") == {"aws:ResourceAccount": "210987654321"}


def test_resource_keys_name_the_resource_accounts_organization(rt: Runtime) -> None:
    tree = _build(rt)
    with rt.db.transaction() as session:
        keys = resource_keys(session, f"arn:aws:iam::{tree.member}:role/OrganizationAccountAccessRole")
        assert keys == {"aws:ResourceAccount": tree.member, "aws:ResourceOrgID": tree.org_id}
        # ARNs without an account (S3) or not ARNs at all get no resource keys.
        assert resource_keys(session, "arn:aws:s3:::bucket/key") == {}
        assert resource_keys(session, "*") == {}
        assert resource_keys(session, "arn:aws:iam::not-an-account:role/x") == {}


def _member_user(tree: Tree) -> Caller:
    return Caller(
        kind="user",
        arn=f"arn:aws:iam::{tree.member}:user/dev",
        account_id=tree.member,
        user_id="AIDAEXAMPLEEXAMPLE123",
        access_key_id="AKIAEXAMPLEEXAMPLE12",
        user_name="dev",
    )


def test_principal_org_keys_in_the_request_context(rt: Runtime) -> None:
    tree = _build(rt)
    caller = _member_user(tree)
    with rt.db.transaction() as session:
        context = request_context(caller, None, NOW, True, session)
    assert context["aws:PrincipalOrgID"] == tree.org_id
    assert context["aws:PrincipalOrgPaths"] == [f"{tree.org_id}/{tree.root}/{tree.top}/{tree.middle}/"]
    assert "aws:PrincipalOrgID" not in request_context(caller, None, NOW, True)


def test_an_scp_deny_decides_even_without_identity_policies_and_a_missing_allow_names_scps(rt: Runtime) -> None:
    tree = _build(rt)
    _attach(rt, "DenyIam", tree.top, {"Effect": "Deny", "Action": "iam:*", "Resource": "*"})
    with rt.db.transaction() as session:
        # The user does not exist, so it has no identity policies: SCPs still deny explicitly.
        decision = decide(session, _member_user(tree), "iam:ListUsers", "*", {})
        assert decision.effect.value == "ExplicitDeny"
        assert decision.matched[0].policy_type.value == "scp"
        decision = decide(session, _member_user(tree), "s3:GetObject", "*", {})
        assert decision.effect.value == "ImplicitDeny"
        assert not any("service control policy" in reason for reason in decision.reasons)


def _race(rt: Runtime, count: int, work: Callable[[Session], object]) -> list[str]:
    """Run ``work`` in ``count`` transactions at once; the AWS error code of each (``ok`` if none)."""
    barrier = threading.Barrier(count)

    def one() -> str:
        barrier.wait()
        try:
            with rt.db.transaction() as session:
                work(session)
            return "ok"
        except AwsError as exc:
            return exc.code

    with ThreadPoolExecutor(max_workers=count) as pool:
        return sorted(pool.map(lambda _: one(), range(count)))


def test_concurrent_changes_to_one_organization_keep_its_rules(rt: Runtime) -> None:
    outcomes = _race(rt, 4, lambda session: structure.create_organization(session, MANAGEMENT, "ALL", NOW))
    assert outcomes == ["AlreadyInOrganizationException"] * 3 + ["ok"]
    with rt.db.transaction() as session:
        organization = structure.organization_of(session, MANAGEMENT)
        root = structure.root_of(session, organization).id

    outcomes = _race(
        rt, 4, lambda session: structure.create_organizational_unit(session, MANAGEMENT, root, "Same", None, NOW)
    )
    assert outcomes == ["DuplicateOrganizationalUnitException"] * 3 + ["ok"]

    # Five SCPs at most on one target, however many attach at once.
    policy_ids = [
        _attach(rt, f"P{i}", root, {"Effect": "Deny", "Action": f"s3:Get{i}", "Resource": "*"}) for i in range(3)
    ]
    extra = []
    for i in range(4):
        with rt.db.transaction() as session:
            extra.append(
                scps.create_policy(
                    session,
                    MANAGEMENT,
                    name=f"Extra{i}",
                    description="",
                    content=_scp_text({"Effect": "Deny", "Action": "s3:Put", "Resource": "*"}),
                    policy_type=orgs.SERVICE_CONTROL_POLICY,
                    tags=None,
                    now=NOW,
                )[1].id
            )
    pending = iter(extra)
    lock = threading.Lock()

    def attach_next(session: Session) -> None:
        with lock:
            policy_id = next(pending)
        scps.attach_policy(session, MANAGEMENT, policy_id, root)

    outcomes = _race(rt, 4, attach_next)
    assert outcomes.count("ok") == 1 and outcomes.count("ConstraintViolationException") == 3
    with rt.db.transaction() as session:
        _, attached = scps.policies_for_target(session, MANAGEMENT, root, orgs.SERVICE_CONTROL_POLICY)
        assert len(attached) == orgs.POLICIES_PER_TARGET
        assert set(policy_ids) <= {policy.id for policy in attached}
