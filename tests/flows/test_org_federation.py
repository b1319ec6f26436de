"""Federation into an organization's member account, end to end: a real SimpleSAMLphp IdP
registered once in the management account, a role in a member account that trusts it, the role
page offering it under the member account, and the credentials it gives bound by the SCPs of the
member account's OU (boto3 against the live broker)."""

from __future__ import annotations

import http.cookiejar
import re
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.services.iam import inline, principals, providers, roles
from tests.support.aws import admin_client, client, deny, document, error
from tests.support.brokers import LiveBroker, free_port, make_runtime, make_settings
from tests.support.interop import ACCOUNT, Page, group_trust_policy, post_to_acs, provider_arn, users
from tests.support.simplesamlphp import SimpleSamlPhpIdp


@pytest.fixture
def broker(tmp_path: Path, keys_dir: Path) -> Iterator[LiveBroker]:
    port = free_port()
    settings = make_settings(tmp_path, keys_dir, f"sqlite:///{tmp_path / 'broker.db'}", f"http://127.0.0.1:{port}")
    with LiveBroker(make_runtime(settings), port) as live:
        yield live


def _member_account_with_a_federated_role(broker: LiveBroker) -> tuple[str, str]:
    """(member account id, the SCP's OU): Root -> Production -> member, NoIamUsers on Production."""
    org = admin_client(broker, "organizations")
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    production = org.create_organizational_unit(ParentId=root, Name="Production")["OrganizationalUnit"]["Id"]
    member = org.create_account(Email="prod@example.com", AccountName="Production")["CreateAccountStatus"]["AccountId"]
    org.move_account(AccountId=member, SourceParentId=root, DestinationParentId=production)
    scp = org.create_policy(
        Name="NoIamUsers", Description="", Type="SERVICE_CONTROL_POLICY", Content=document(deny("iam:CreateUser"))
    )["Policy"]["PolicySummary"]["Id"]
    org.attach_policy(PolicyId=scp, TargetId=production)
    runtime = broker.runtime
    with runtime.db.transaction() as session:
        # One provider, in the management account; the member account's role trusts it.
        roles.create_role(
            session,
            member,
            name="ProdAdmin",
            trust_policy=group_trust_policy(provider_arn(), "engineers", runtime.settings.acs_url),
            path="/",
            description="Administrators of production",
            max_session_duration=3600,
            permissions_boundary=None,
            tags=None,
            now=runtime.now(),
        )
        principals.put_inline(session, "Role", member, "ProdAdmin", "admin", inline.ADMINISTRATOR_ACCESS)
    return member, production


@pytest.mark.simplesamlphp
def test_a_sign_in_reaches_a_member_account_role_and_its_credentials_are_bound_by_the_scps(
    broker: LiveBroker,
) -> None:
    member, _production = _member_account_with_a_federated_role(broker)
    idp = SimpleSamlPhpIdp(broker.runtime.sp.metadata_xml, users())  # type: ignore[arg-type]
    idp.start()
    try:
        runtime = broker.runtime
        with runtime.db.transaction() as session:
            providers.create_saml_provider(session, ACCOUNT, "ssp", idp.metadata_xml(), None, runtime.now())
        jar = http.cookiejar.CookieJar()
        form = idp.login_http("bob", start_url=f"{broker.url}/saml/login?provider=ssp", cookie_jar=jar)
        page = post_to_acs(form, jar)  # type: ignore[arg-type]
    finally:
        idp.stop()
    role_arn = f"arn:aws:iam::{member}:role/ProdAdmin"
    # bob is an engineer: one role, so the broker may go straight to credentials; either way the
    # member account's role is what he gets.
    if "role-form" in page.body:
        assert re.findall(r'name="role_arn"[^>]*value="([^"]+)"', page.body) == [role_arn]
        assert "Production" in page.body  # grouped under the member account
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.body)
        assert csrf is not None
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        body = urllib.parse.urlencode({"csrf_token": csrf.group(1), "role_arn": role_arn, "duration": "3600"}).encode()
        with opener.open(urllib.request.Request(f"{broker.url}/saml/roles", data=body, method="POST"), timeout=30) as r:
            page = Page(r.status, r.url, r.read().decode())
    assert page.status == 200, page.body
    key, secret, token = (page.element(i) for i in ("access-key-id", "secret-access-key", "session-token"))

    sts = client(broker, "sts", key, secret, token)
    identity = sts.get_caller_identity()
    assert identity["Account"] == member
    assert identity["Arn"].startswith(f"arn:aws:sts::{member}:assumed-role/ProdAdmin/")
    iam = client(broker, "iam", key, secret, token)
    iam.create_group(GroupName="deployers")  # an administrator, not denied by any SCP
    code, message = error(iam.create_user, UserName="someone")
    assert code == "AccessDenied"
    assert "with an explicit deny in a service control policy" in message

    # The sign-in into the role is in the member account's own trail (as in AWS, the management
    # account's event history holds its own events only).
    events = client(broker, "cloudtrail", key, secret, token).lookup_events(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "AssumeRoleWithSAML"}]
    )["Events"]
    assert [role_arn in event["CloudTrailEvent"] for event in events] == [True]
    management_events = admin_client(broker, "cloudtrail").lookup_events(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "AssumeRoleWithSAML"}]
    )["Events"]
    assert not any(role_arn in event["CloudTrailEvent"] for event in management_events)
