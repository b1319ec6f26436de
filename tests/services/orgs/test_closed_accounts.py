"""A closed (SUSPENDED) member account is unusable: boto3 and the decision API against a live broker.

Before CloseAccount the member account's IAM user key, its GetSessionToken credentials, a role
session in it and that session's token as a bearer token all work, and its roles are assumed and
offered at SAML sign-in; after it, every one of them is refused (InvalidClientTokenId, as credentials
that are no longer valid are), the refusals are audited under the refused principal, and no sign-in
offers or issues its roles. The management account carries on, and CloseAccount is in its trail.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError
from sqlalchemy import select

from broker.saml.assertion import ROLE_ATTRIBUTE
from broker.services.audit import ClientInfo
from broker.services.federation import FederationService
from broker.services.federation.errors import RoleNotPermitted
from broker.services.sso.offers import current_offers
from broker.store import models
from broker.web.app import create_app
from tests.services.api.organizations.test_actions import ACCESS_ROLE, assume, new_account
from tests.services.federation.corp import (
    CORP_ARN,
    DEFAULT,
    IDP_ENTITY_ID,
    IDP_ORIGIN,
    IdpKeys,
    corp_runtime,
    register,
    signed_response,
    trust_role,
)
from tests.support.aws import ACCOUNT, admin_client, allow, client, document
from tests.support.brokers import LiveBroker, free_port
from tests.support.metadata import idp_metadata_xml
from tests.support.saml_factory import Attr

QUERY = {"action": "s3:GetObject", "resource": "arn:aws:s3:::reports/q3.pdf"}


def refused(call: Callable[..., Any], **kwargs: Any) -> tuple[str, int]:
    """(error code, HTTP status) of the ClientError a call raises."""
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    response = raised.value.response
    return str(response["Error"]["Code"]), int(response["ResponseMetadata"]["HTTPStatusCode"])


def bearer_decision(broker: LiveBroker, token: str) -> requests.Response:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    return requests.post(f"{broker.url}/v1/decisions", data=json.dumps(QUERY), headers=headers, timeout=10)


def events(broker: LiveBroker, event_name: str) -> list[dict[str, Any]]:
    with broker.runtime.db.read() as tx:
        query = select(models.AuditEvent).where(models.AuditEvent.event_name == event_name)
        return [event.record for event in tx.scalars(query.order_by(models.AuditEvent.seq))]


def test_every_credential_of_a_closed_account_is_refused(broker: LiveBroker) -> None:
    organizations = admin_client(broker, "organizations")
    organizations.create_organization()
    member = new_account(organizations)
    # The management administrator's session in the member account, and an IAM user made with it.
    admin_session = assume(broker, member)
    member_iam = client(
        broker, "iam", admin_session["AccessKeyId"], admin_session["SecretAccessKey"], admin_session["SessionToken"]
    )
    member_iam.create_user(UserName="worker")
    member_iam.put_user_policy(UserName="worker", PolicyName="read", PolicyDocument=document(allow("s3:GetObject")))
    key = member_iam.create_access_key(UserName="worker")["AccessKey"]
    user_sts = client(broker, "sts", key["AccessKeyId"], key["SecretAccessKey"])
    user_arn = f"arn:aws:iam::{member}:user/worker"
    assert user_sts.get_caller_identity()["Arn"] == user_arn
    temporary = user_sts.get_session_token()["Credentials"]
    temporary_sts = client(
        broker, "sts", temporary["AccessKeyId"], temporary["SecretAccessKey"], temporary["SessionToken"]
    )
    assert temporary_sts.get_caller_identity()["Account"] == member
    assert member_iam.list_users()["Users"]
    decided = bearer_decision(broker, admin_session["SessionToken"])
    assert decided.status_code == 200 and decided.json()["decision"] == "Allow"
    management_sts = admin_client(broker, "sts")
    target = f"arn:aws:iam::{member}:role/{ACCESS_ROLE}"
    assert management_sts.assume_role(RoleArn=target, RoleSessionName="before")["Credentials"]

    organizations.close_account(AccountId=member)

    # The same credentials, at the next request: refused as credentials no longer valid.
    assert refused(user_sts.get_caller_identity) == ("InvalidClientTokenId", 403)
    assert refused(temporary_sts.get_caller_identity) == ("InvalidClientTokenId", 403)
    assert refused(member_iam.list_users) == ("InvalidClientTokenId", 403)
    user_iam = client(broker, "iam", key["AccessKeyId"], key["SecretAccessKey"])
    assert refused(user_iam.list_access_keys) == ("InvalidClientTokenId", 403)
    # Organizations (JSON protocol) names it as that protocol does.
    member_organizations = client(
        broker,
        "organizations",
        admin_session["AccessKeyId"],
        admin_session["SecretAccessKey"],
        admin_session["SessionToken"],
    )
    assert refused(member_organizations.describe_organization) == ("UnrecognizedClientException", 400)
    decided = bearer_decision(broker, admin_session["SessionToken"])
    assert decided.status_code == 401 and decided.json()["error"]["code"] == "InvalidClientTokenId"
    assert decided.headers["WWW-Authenticate"].startswith("Bearer")
    # Nobody assumes a role of the closed account, not even the management account.
    assert refused(management_sts.assume_role, RoleArn=target, RoleSessionName="after") == ("AccessDenied", 403)
    assert management_sts.get_caller_identity()["Account"] == ACCOUNT

    # Each refusal is audited, naming who was refused and why, in the closed account's trail.
    (by_key,) = [
        e
        for e in events(broker, "GetCallerIdentity")
        if e.get("errorCode") and e["userIdentity"].get("accessKeyId") == key["AccessKeyId"]
    ]
    assert by_key["errorCode"] == "InvalidClientTokenId" and by_key["recipientAccountId"] == member
    assert by_key["userIdentity"]["arn"] == user_arn and by_key["userIdentity"]["type"] == "IAMUser"
    assert by_key["additionalEventData"] == {"accountStatus": "SUSPENDED"}
    by_session_token = [
        e
        for e in events(broker, "GetCallerIdentity")
        if e.get("userIdentity", {}).get("accessKeyId") == temporary["AccessKeyId"]
    ]
    assert [e.get("errorCode") for e in by_session_token] == [None, "InvalidClientTokenId"]
    (by_bearer,) = [e for e in events(broker, "Decide") if e.get("errorCode")]
    assert by_bearer["errorCode"] == "InvalidClientTokenId"
    assert by_bearer["userIdentity"]["type"] == "AssumedRole" and by_bearer["recipientAccountId"] == member
    assert by_bearer["additionalEventData"] == {"authenticationMethod": "Bearer", "accountStatus": "SUSPENDED"}
    (assumed,) = [e for e in events(broker, "AssumeRole") if e.get("errorCode")]
    assert assumed["errorCode"] == "AccessDenied" and assumed["requestParameters"]["roleArn"] == target
    text = json.dumps(events(broker, "GetCallerIdentity"))
    assert key["SecretAccessKey"] not in text and temporary["SessionToken"] not in text

    # CloseAccount itself is in the management account's trail, with the account it closed.
    trail = admin_client(broker, "cloudtrail")
    (closing,) = trail.lookup_events(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CloseAccount"}]
    )["Events"]
    record = json.loads(closing["CloudTrailEvent"])
    assert "errorCode" not in record and record["requestParameters"] == {"accountId": member}
    assert record["recipientAccountId"] == ACCOUNT


def test_no_sign_in_offers_or_issues_a_closed_accounts_role(
    tmp_path: Path, keys_dir: Path, database_url: str, keys: IdpKeys
) -> None:
    runtime = corp_runtime(tmp_path, keys_dir, database_url, keys)  # Engineer and Reader in DEFAULT trust corp
    with LiveBroker(runtime, free_port()) as live:
        organizations = admin_client(live, "organizations")
        organizations.create_organization()
        member = new_account(organizations)
        deployer = trust_role(runtime, member, "Deployer", CORP_ARN)
        web = create_app(runtime=runtime).test_client()
        sts = client(live, "sts", "unused", "unused")  # AssumeRoleWithSAML is unsigned

        def sign_in(assertion_id: str) -> Any:
            posted = web.post("/saml/acs", data={"SAMLResponse": signed_response(keys, assertion_id)})
            assert posted.status_code == 303, posted.text
            cookie = web.get_cookie("broker_session")
            assert cookie is not None
            loaded = FederationService(runtime).load_web_session(cookie.value)
            assert loaded is not None
            return loaded[1]

        def with_saml(assertion_id: str) -> Any:
            return sts.assume_role_with_saml(
                RoleArn=deployer, PrincipalArn=CORP_ARN, SAMLAssertion=signed_response(keys, assertion_id)
            )

        before = sign_in("_before")
        assert deployer in {offer.role_arn for offer in before.offers()}
        assert "Deployer" in web.get("/saml/roles").text
        assert with_saml("_saml-before")["AssumedRoleUser"]["Arn"].startswith(f"arn:aws:sts::{member}:")
        # The same IdP registered in the member account, trusted by a role of the management account.
        member_idp = register(
            runtime, member, "corp", idp_metadata_xml(IDP_ENTITY_ID, keys.cert_pem, f"{IDP_ORIGIN}/sso")
        )
        partner = trust_role(runtime, DEFAULT, "Partner", member_idp)

        def through_member(assertion_id: str) -> Any:
            return sts.assume_role_with_saml(
                RoleArn=partner, PrincipalArn=member_idp, SAMLAssertion=signed_response(keys, assertion_id)
            )

        assert through_member("_member-before")["AssumedRoleUser"]["Arn"].startswith(f"arn:aws:sts::{DEFAULT}:")

        organizations.close_account(AccountId=member)

        # The sign-in from before the closing: its role page drops the role at the next view, and
        # the page that explains missing roles says its account is closed.
        page = web.get("/saml/roles").text
        assert "Deployer" not in page and "Engineer" in page
        why = web.get("/saml/roles/why").text
        assert 'id="closed-account-roles"' in why and deployer in why
        # A sign-in whose IdP lists the closed account's role is told the same, not "no such role".
        listing = Attr(ROLE_ATTRIBUTE, (f"{deployer},{CORP_ARN}", f"arn:aws:iam::{DEFAULT}:role/Engineer,{CORP_ARN}"))
        posted = web.post("/saml/acs", data={"SAMLResponse": signed_response(keys, "_listed", listing)})
        assert posted.status_code == 303, posted.text
        why = web.get("/saml/roles/why").text
        closed_part = why.split('id="closed-account-roles"', 1)[1].split("</ul>", 1)[0]
        assert deployer in closed_part and 'id="unmatched-roles"' not in why

        after = sign_in("_after")
        assert sorted(offer.role_arn for offer in after.offers()) == [
            f"arn:aws:iam::{DEFAULT}:role/Engineer",
            f"arn:aws:iam::{DEFAULT}:role/Reader",
        ]
        assert "Deployer" not in web.get("/saml/roles").text
        # A sign-in from before the closing: the portal (and CLI refresh) offers decide again...
        with runtime.db.read() as tx:
            assert deployer not in {offer.role_arn for offer in current_offers(tx, before)}
        # ...and credentials for the role it was offered then are refused, audited.
        client_info = ClientInfo("127.0.0.1", "tests", "req-closed")
        with pytest.raises(RoleNotPermitted):
            FederationService(runtime).issue(before, deployer, None, client_info)
        assert refused(with_saml, assertion_id="_saml-after") == ("AccessDenied", 403)
        # A closed account's provider signs no one in, even into an open account's role.
        assert refused(through_member, assertion_id="_member-after") == ("InvalidIdentityToken", 400)
        failed = [e for e in events(live, "AssumeRoleWithSAML") if e.get("errorCode")]
        assert sorted(e["requestParameters"]["roleArn"] for e in failed) == sorted([partner, deployer, deployer])
        # The default account's roles are still issued.
        engineer = f"arn:aws:iam::{DEFAULT}:role/Engineer"
        assert FederationService(runtime).issue(after, engineer, None, client_info).access_key_id.startswith("ASIA")
    runtime.db.dispose()
