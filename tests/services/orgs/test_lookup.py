"""Finding what an Organizations call names: the store hands back plain values, and refusals are AWS's."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.iam import orgs
from broker.iam.errors import AwsError
from broker.iam.org_entities import Membership, Node, Organization
from broker.services.orgs import lookup, structure
from broker.services.runtime import Runtime
from broker.store import orgs as store
from tests.support.brokers import make_runtime, make_settings

MANAGEMENT = "123456789012"
NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def rt(tmp_path: Path, keys_dir: Path, database_url: str) -> Iterator[Runtime]:
    runtime = make_runtime(make_settings(tmp_path, keys_dir, database_url, "http://127.0.0.1:9"))
    yield runtime
    runtime.db.dispose()


def test_lookups_answer_values_of_the_callers_organization(rt: Runtime) -> None:
    with rt.db.transaction() as tx:
        created = structure.create_organization(tx, MANAGEMENT, "ALL", NOW)
        root = lookup.root(tx, created.id)
        _, unit = structure.create_organizational_unit(
            tx, MANAGEMENT, root.id, "Team", [{"Key": "k", "Value": "v"}], NOW
        )
        status = structure.create_account(
            tx, MANAGEMENT, email="m@example.com", account_name="Member", role_name=None, tags=None, now=NOW
        )
        assert status.account_id is not None
        member_id = status.account_id
    with rt.db.transaction() as tx:
        organization = lookup.managed(tx, MANAGEMENT)
        assert organization == created and isinstance(organization, Organization)
        assert lookup.managed(tx, MANAGEMENT, lock=True) == created
        found_root = lookup.root(tx, created.id)
        assert isinstance(found_root, Node)
        assert (found_root.kind, found_root.parent_id, found_root.depth) == (orgs.ROOT, None, 0)
        ou = lookup.organizational_unit(tx, organization, unit.id)
        assert (ou.parent_id, ou.path, ou.depth) == (root.id, f"{root.id}/{unit.id}", 1)
        assert ou.as_unit() == unit
        assert lookup.member(tx, organization, member_id) == Membership(member_id, created.id, root.id)
        tagged = store.tagged(tx, unit.id)
        assert tagged is not None and tagged.tags == {"k": "v"}


def test_member_accounts_and_other_organizations_ids_are_refused(rt: Runtime) -> None:
    with rt.db.transaction() as tx:
        created = structure.create_organization(tx, MANAGEMENT, "ALL", NOW)
        status = structure.create_account(
            tx, MANAGEMENT, email="m@example.com", account_name="Member", role_name=None, tags=None, now=NOW
        )
        assert status.account_id is not None
        member_id = status.account_id
    with rt.db.transaction() as tx:
        assert lookup.organization(tx, member_id) == created
        with pytest.raises(AwsError) as refused:
            lookup.managed(tx, member_id)
        assert refused.value.code == "AccessDeniedException"
        with pytest.raises(AwsError) as missing:
            lookup.organizational_unit(tx, created, "ou-abcd-abcdefgh")
        assert missing.value.code == "OrganizationalUnitNotFoundException"
        with pytest.raises(AwsError) as outside:
            lookup.organization(tx, "999999999999")
        assert outside.value.code == "AWSOrganizationsNotInUseException"
