"""A broker at https://broker.example with a corporate IdP registered, for sign-in tests.

No running IdP: responses are built and signed by ``tests.support.saml_factory`` with the IdP's
key, and the registered metadata names the IdP's endpoints at ``IDP_ORIGIN``. Other accounts and
providers are added by the tests that need them (:func:`add_account`, :func:`register`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

from broker.crypto.keys import generate_rsa_pair
from broker.services.iam import providers, roles
from broker.services.runtime import Runtime
from broker.store import models
from tests.support.brokers import make_runtime, make_settings
from tests.support.metadata import idp_metadata_xml
from tests.support.saml_factory import IDP_ENTITY_ID, Attr, ResponseOptions, Signer, response_b64

BASE = "https://broker.example"
DEFAULT = "123456789012"
IDP_ORIGIN = "https://idp.corp.example"
CORP_ARN = f"arn:aws:iam::{DEFAULT}:saml-provider/corp"


@dataclasses.dataclass(frozen=True)
class IdpKeys:
    key_pem: bytes
    cert_pem: bytes

    def signer(self) -> Signer:
        return Signer(self.key_pem, self.cert_pem)


def idp_keys() -> IdpKeys:
    key_pem, cert_pem = generate_rsa_pair("idp.corp.example", key_size=2048)
    return IdpKeys(key_pem, cert_pem)


def corp_runtime(tmp_path: Path, keys_dir: Path, database_url: str, keys: IdpKeys) -> Runtime:
    """The broker (plain cookies, so the test client sends them back) with ``corp`` registered in
    the default account and two roles that trust it, so sign-ins land on the role page."""
    runtime = make_runtime(make_settings(tmp_path, keys_dir, database_url, BASE, cookie_secure=False))
    register(runtime, DEFAULT, "corp", idp_metadata_xml(IDP_ENTITY_ID, keys.cert_pem, f"{IDP_ORIGIN}/sso"))
    for role in ("Engineer", "Reader"):
        trust_role(runtime, DEFAULT, role, CORP_ARN)
    return runtime


def add_account(runtime: Runtime, account_id: str, alias: str | None = None, name: str | None = None) -> None:
    """An account row; ``name`` as Organizations' CreateAccount gives one (default: the id)."""
    with runtime.db.transaction() as session:
        session.add(models.Account(id=account_id, alias=alias, name=name or account_id, created_at=runtime.now()))


def register(runtime: Runtime, account_id: str, name: str, metadata_xml: str) -> str:
    with runtime.db.transaction() as session:
        provider = providers.create_saml_provider(session, account_id, name, metadata_xml, None, runtime.now())
        return str(provider.arn)


def trust_role(runtime: Runtime, account_id: str, name: str, principal: Any) -> str:
    """A role whose trust policy admits ``principal`` (a provider ARN, or a whole Principal value)."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": principal} if isinstance(principal, str) else principal,
                "Action": "sts:AssumeRoleWithSAML",
            }
        ],
    }
    with runtime.db.transaction() as session:
        role = roles.create_role(
            session,
            account_id,
            name=name,
            trust_policy=json.dumps(trust),
            path="/",
            description=None,
            max_session_duration=7200,
            permissions_boundary=None,
            tags=None,
            now=runtime.now(),
        )
        return str(role.arn)


def signed_response(keys: IdpKeys, assertion_id: str, *extra: Attr, **changes: object) -> str:
    """A response from the IdP at ``BASE``'s ACS: IdP-initiated unless ``in_response_to`` is given."""
    options = ResponseOptions(
        now=dt.datetime.now(dt.UTC),
        in_response_to=None,
        assertion_id=assertion_id,
        response_id=f"_r{assertion_id}",
        sign_assertion=keys.signer(),
        attributes=(Attr("groups", ("engineering",)), *extra),
    )
    return response_b64(dataclasses.replace(options, **changes))  # type: ignore[arg-type]


def outstanding_requests(runtime: Runtime) -> list[tuple[str, str, str | None]]:
    """(request id, provider ARN, relay state) of every AuthnRequest the broker sent."""
    with runtime.db.read() as session:
        rows = session.execute(
            select(models.SamlRequest.request_id, models.SamlRequest.provider_arn, models.SamlRequest.relay_state)
        )
        return [(row[0], row[1], row[2]) for row in rows]


def refusals(runtime: Runtime, event_name: str) -> list[tuple[str | None, str]]:
    """(error code, error message) of each audited ``event_name`` that failed, in order."""
    with runtime.db.read() as session:
        events = session.scalars(
            select(models.AuditEvent)
            .where(models.AuditEvent.event_name == event_name, models.AuditEvent.error_code.is_not(None))
            .order_by(models.AuditEvent.seq)
        )
        return [(event.error_code, str(event.record.get("errorMessage", ""))) for event in events]
