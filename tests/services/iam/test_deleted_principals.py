"""A trust policy names a user or role by ARN, but trusts the entity, not the name: deleting it
rewrites the policy to its unique id (as AWS shows it), so a new entity of the same name is not
trusted; renaming a user moves the policy to its new ARN. Through boto3 against a live broker,
on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from sqlalchemy import select

from broker.policy import PolicyKind, PolicySet, Principal, Request, evaluate, parse_policy
from broker.services.trust import principal_replaced
from broker.store import models, trust_index
from broker.store.iam import named
from broker.store.iam.accounts import ensure_account
from tests.support.aws import (  # noqa: F401  (module_broker, module_iam: the "broker" and "iam" fixtures)
    ACCOUNT,
    admin_client,
    allow,
    client,
    code,
    document,
    error,
    module_broker,
    module_iam,
)
from tests.support.brokers import LiveBroker

ASSUME_ANYTHING = document(allow("sts:AssumeRole", "*"))
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
OTHER_ACCOUNT = "210987654321"


def user_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:user/{name}"


def role_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


def trusting(*arns: str) -> str:
    principal = arns[0] if len(arns) == 1 else list(arns)
    return document({"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"})


def user_who_may_assume(broker: LiveBroker, iam: Any, name: str) -> tuple[str, Any]:
    """A new user allowed sts:AssumeRole on anything; its unique id and its STS client."""
    user_id = iam.create_user(UserName=name)["User"]["UserId"]
    iam.put_user_policy(UserName=name, PolicyName="assume", PolicyDocument=ASSUME_ANYTHING)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return user_id, client(broker, "sts", key["AccessKeyId"], key["SecretAccessKey"])


def delete_user(iam: Any, name: str) -> None:
    for key in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]:
        iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    iam.delete_user_policy(UserName=name, PolicyName="assume")
    iam.delete_user(UserName=name)


def trusted_aws_principals(iam: Any, role: str) -> list[str]:
    (statement,) = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]["Statement"]
    principal = statement["Principal"]["AWS"]
    return [principal] if isinstance(principal, str) else principal


def assume(sts: Any, role: str) -> str:
    return str(sts.assume_role(RoleArn=role_arn(role), RoleSessionName="session")["AssumedRoleUser"]["Arn"])


def audited_assume_role_errors(broker: LiveBroker) -> list[str | None]:
    with broker.runtime.db.read() as tx:
        query = select(models.AuditEvent.error_code).where(models.AuditEvent.event_name == "AssumeRole")
        return list(tx.scalars(query.order_by(models.AuditEvent.seq)))


def index_of(broker: LiveBroker, role: str) -> set[str]:
    with broker.runtime.db.read() as tx:
        role_id = tx.scalar(select(models.Role.role_id).where(models.Role.arn == role_arn(role)))
        assert role_id is not None
        return trust_index.principals_of(tx, role_id)


def test_a_new_user_of_a_deleted_users_name_is_not_trusted(broker: LiveBroker, iam: Any) -> None:
    old_id, old_alice = user_who_may_assume(broker, iam, "alice")
    _bob_id, bob = user_who_may_assume(broker, iam, "bob")
    iam.create_role(RoleName="Payroll", AssumeRolePolicyDocument=trusting(user_arn("alice"), user_arn("bob")))
    assert assume(old_alice, "Payroll").endswith(":assumed-role/Payroll/session")
    assert user_arn("alice") in index_of(broker, "Payroll")

    delete_user(iam, "alice")
    # GetRole shows the unique id of the deleted user where its ARN was; bob is still named.
    assert trusted_aws_principals(iam, "Payroll") == [old_id, user_arn("bob")]
    assert old_id.startswith("AIDA")
    assert index_of(broker, "Payroll") == {user_arn("bob")}

    new_id, new_alice = user_who_may_assume(broker, iam, "alice")
    assert new_id != old_id
    before = audited_assume_role_errors(broker)
    with pytest.raises(ClientError) as refused:
        assume(new_alice, "Payroll")
    assert code(refused) == "AccessDenied"
    assert audited_assume_role_errors(broker) == [*before, "AccessDenied"]
    assert assume(bob, "Payroll").endswith(":assumed-role/Payroll/session")  # the policy still works for bob


def test_a_new_role_of_a_deleted_roles_name_is_not_trusted(broker: LiveBroker, iam: Any) -> None:
    admin_sts = admin_client(broker, "sts")

    def runner_session() -> Any:
        iam.create_role(RoleName="Runner", AssumeRolePolicyDocument=trusting(user_arn("admin")))
        iam.put_role_policy(RoleName="Runner", PolicyName="assume", PolicyDocument=ASSUME_ANYTHING)
        credentials = admin_sts.assume_role(RoleArn=role_arn("Runner"), RoleSessionName="ci")["Credentials"]
        return client(
            broker, "sts", credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"]
        )

    old_runner = runner_session()
    old_id = iam.get_role(RoleName="Runner")["Role"]["RoleId"]
    iam.create_role(RoleName="Deployer", AssumeRolePolicyDocument=trusting(role_arn("Runner")))
    assert assume(old_runner, "Deployer").endswith(":assumed-role/Deployer/session")

    iam.delete_role_policy(RoleName="Runner", PolicyName="assume")
    iam.delete_role(RoleName="Runner")
    assert trusted_aws_principals(iam, "Deployer") == [old_id]
    assert old_id.startswith("AROA")
    assert index_of(broker, "Deployer") == set()

    new_runner = runner_session()
    with pytest.raises(ClientError) as refused:
        assume(new_runner, "Deployer")
    assert code(refused) == "AccessDenied"


def test_a_renamed_user_stays_trusted_and_its_old_name_does_not(broker: LiveBroker, iam: Any) -> None:
    _carol_id, carol = user_who_may_assume(broker, iam, "carol")
    iam.create_role(RoleName="Reports", AssumeRolePolicyDocument=trusting(user_arn("carol")))
    iam.update_user(UserName="carol", NewUserName="carol-old", NewPath="/leavers/")
    moved = f"arn:aws:iam::{ACCOUNT}:user/leavers/carol-old"
    assert trusted_aws_principals(iam, "Reports") == [moved]
    assert index_of(broker, "Reports") == {moved}
    assert assume(carol, "Reports").endswith(":assumed-role/Reports/session")  # same user, same keys

    _new_id, new_carol = user_who_may_assume(broker, iam, "carol")
    with pytest.raises(ClientError) as refused:
        assume(new_carol, "Reports")
    assert code(refused) == "AccessDenied"


def test_a_trust_policy_cannot_be_written_with_a_deleted_principals_id(broker: LiveBroker, iam: Any) -> None:
    gone_id, _ = user_who_may_assume(broker, iam, "dave")
    delete_user(iam, "dave")
    expected = ("MalformedPolicyDocument", f'Invalid principal in policy: "AWS":"{gone_id}"')
    assert error(iam.create_role, RoleName="Stale", AssumeRolePolicyDocument=trusting(gone_id)) == expected
    iam.create_role(RoleName="Fresh", AssumeRolePolicyDocument=trusting(user_arn("admin")))
    assert (
        error(iam.update_assume_role_policy, RoleName="Fresh", PolicyDocument=trusting(user_arn("admin"), gone_id))
        == expected
    )


def test_a_deletion_rewrites_every_statement_and_element_naming_the_arn(broker: LiveBroker, iam: Any) -> None:
    erin_id, _ = user_who_may_assume(broker, iam, "erin")
    policy = document(
        {"Effect": "Allow", "Principal": {"AWS": [user_arn("erin"), user_arn("admin")]}, "Action": "sts:AssumeRole"},
        {"Effect": "Deny", "Principal": {"AWS": user_arn("erin")}, "Action": "sts:TagSession"},
        {"Effect": "Deny", "NotPrincipal": {"AWS": [user_arn("erin"), user_arn("admin"), ROOT]}, "Action": "sts:*"},
    )
    iam.create_role(RoleName="Mixed", AssumeRolePolicyDocument=policy)
    delete_user(iam, "erin")
    statements = iam.get_role(RoleName="Mixed")["Role"]["AssumeRolePolicyDocument"]["Statement"]
    assert statements[0]["Principal"]["AWS"] == [erin_id, user_arn("admin")]
    assert statements[1]["Principal"]["AWS"] == erin_id
    assert statements[2]["NotPrincipal"]["AWS"] == [erin_id, user_arn("admin"), ROOT]
    assert user_arn("erin") not in json.dumps(statements)
    # The rewritten document still parses and decides: admin, left out of the Deny, may assume.
    assert assume(admin_client(broker, "sts"), "Mixed").endswith(":assumed-role/Mixed/session")


def test_roles_of_other_accounts_are_rewritten_too(broker: LiveBroker, iam: Any) -> None:
    gina_id, _ = user_who_may_assume(broker, iam, "gina")
    now = dt.datetime.now(dt.UTC)
    with broker.runtime.db.transaction() as tx:
        ensure_account(tx, OTHER_ACCOUNT, now=now)
        fields = {
            "account_id": OTHER_ACCOUNT,
            "name": "Partner",
            "name_key": "partner",
            "path": "/",
            "role_id": "AROAZ2Z3Z4Z5Z6Z7PARTN",
            "arn": f"arn:aws:iam::{OTHER_ACCOUNT}:role/Partner",
            "trust_policy": trusting(user_arn("gina")),
            "description": "",
            "max_session_duration": 3600,
            "create_date": now,
            "tags": {},
        }
        assert named.ROLES.add(tx, fields) is not None
    delete_user(iam, "gina")
    with broker.runtime.db.read() as tx:
        stored = tx.scalar(select(models.Role.trust_policy).where(models.Role.role_id == "AROAZ2Z3Z4Z5Z6Z7PARTN"))
        assert stored is not None
        assert json.loads(stored)["Statement"][0]["Principal"] == {"AWS": gina_id}
        assert trust_index.principals_of(tx, "AROAZ2Z3Z4Z5Z6Z7PARTN") == set()


def test_the_backfill_indexes_roles_that_name_users(broker: LiveBroker, iam: Any) -> None:
    # Roles written before the index held user and role ARNs get their entries from the backfill.
    iam.create_role(RoleName="Legacy", AssumeRolePolicyDocument=trusting(user_arn("admin"), role_arn("Legacy")))
    with broker.runtime.db.transaction() as tx:
        pk = tx.scalar(select(models.Role.id).where(models.Role.arn == role_arn("Legacy")))
        tx.execute(models.RoleTrustedPrincipal.__table__.delete().where(models.RoleTrustedPrincipal.role_pk == pk))
    assert index_of(broker, "Legacy") == set()
    with broker.runtime.db.transaction() as tx:
        assert trust_index.index_unindexed_roles(tx) >= 1
    assert index_of(broker, "Legacy") == {user_arn("admin"), role_arn("Legacy")}


# --- the rewrite itself ------------------------------------------------------------------------------


def test_principal_replaced_touches_only_aws_principals_equal_to_the_arn() -> None:
    arn = user_arn("frank")
    original = document(
        {
            "Effect": "Allow",
            "Principal": {"AWS": [arn, arn + "x"], "Federated": arn},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:PrincipalArn": arn}},
        }
    )
    rewritten = principal_replaced(original, arn, "AIDAZ2Z3Z4Z5Z6Z7ABCDE")
    assert rewritten is not None
    (statement,) = json.loads(rewritten)["Statement"]
    assert statement["Principal"] == {"AWS": ["AIDAZ2Z3Z4Z5Z6Z7ABCDE", arn + "x"], "Federated": arn}
    assert statement["Condition"] == {"StringEquals": {"aws:PrincipalArn": arn}}
    assert principal_replaced(original, user_arn("nobody"), "AIDAZ2Z3Z4Z5Z6Z7ABCDE") is None
    assert principal_replaced("not json", arn, "AIDAZ2Z3Z4Z5Z6Z7ABCDE") is None
    # An escaped spelling of the ARN names the same principal.
    escaped = original.replace("user/frank", "user\\/fr\\u0061nk")
    assert trust_index.trusted_principals(escaped) >= {arn}
    assert principal_replaced(escaped, arn, "AIDAZ2Z3Z4Z5Z6Z7ABCDE") is not None


def test_a_unique_id_in_a_trust_policy_names_no_caller() -> None:
    gone = "AIDAZ2Z3Z4Z5Z6Z7ABCDE"
    policy = parse_policy(trusting(gone, user_arn("admin")), PolicyKind.TRUST)
    callers = [
        Principal(arn=user_arn("frank")),
        Principal(arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/Dev/s", role_arn=role_arn("Dev"), is_session=True),
        Principal(account=ACCOUNT),
        Principal(arn=gone),  # even a caller whose "ARN" were the id itself
    ]
    for caller in callers:
        request = Request(principal=caller, action="sts:AssumeRole", resource=role_arn("T"), context={})
        assert not evaluate(request, PolicySet(resource=(policy,), resource_account=ACCOUNT)).allowed
    admin = Request(principal=Principal(arn=user_arn("admin")), action="sts:AssumeRole", resource=role_arn("T"))
    assert evaluate(admin, PolicySet(resource=(policy,), resource_account=ACCOUNT)).allowed
