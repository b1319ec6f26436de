"""One IdP registered in several accounts: which registration validates a sign-in.

The ACS tries the registrations in a stable order (the browser's pending sign-ins first, then the
default account's, then by account and name) and moves on only when a failure depends on the
registration (its certificates, algorithms, expiry). So a stale or hostile registration of an
entity id in one account cannot break sign-in through another's, and what a registration's
certificates do not verify never gets its roles.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from broker.saml.errors import SamlError
from broker.services import federation, iam_admin
from broker.services.federation import ClientInfo, FederationService
from broker.services.runtime import Runtime
from broker.store import models
from tests.saml.conftest import KeyPair
from tests.support.brokers import make_runtime, make_settings
from tests.support.metadata import idp_metadata_xml
from tests.support.saml_factory import IDP_ENTITY_ID, Attr, ResponseOptions, response_b64

DEFAULT = "123456789012"
MEMBER = "210987654321"
CLIENT = ClientInfo(source_ip="198.51.100.7", user_agent="pytest", request_id="req-1")


@pytest.fixture
def rt(tmp_path: Path, keys_dir: Path, database_url: str) -> Iterator[Runtime]:
    runtime = make_runtime(make_settings(tmp_path, keys_dir, database_url, "https://broker.example"))
    with runtime.db.transaction() as session:
        session.add(models.Account(id=MEMBER, alias="member", name="Member", created_at=runtime.now()))
    yield runtime
    runtime.db.dispose()


def _register(rt: Runtime, account: str, name: str, cert_pem: bytes, role: str) -> str:
    """A registration of the IdP in ``account`` and a role there that trusts it."""
    with rt.db.transaction() as session:
        provider = iam_admin.create_saml_provider(
            session, account, name, idp_metadata_xml(IDP_ENTITY_ID, cert_pem), None, rt.now()
        )
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Federated": provider.arn}, "Action": "sts:AssumeRoleWithSAML"}
            ],
        }
        iam_admin.create_role(
            session,
            account,
            name=role,
            trust_policy=json.dumps(trust),
            path="/",
            description=None,
            max_session_duration=None,
            permissions_boundary=None,
            tags=None,
            now=rt.now(),
        )
        return str(provider.arn)


def _unsolicited(signer: KeyPair, assertion_id: str, **changes: object) -> str:
    """An IdP-initiated response (no InResponseTo), signed with ``signer``, that lists no roles."""
    options = ResponseOptions(
        now=dt.datetime.now(dt.UTC),
        in_response_to=None,
        assertion_id=assertion_id,
        response_id=f"_r{assertion_id}",
        sign_assertion=signer.signer(),
        attributes=(Attr("groups", ("engineering",)),),
    )
    return response_b64(dataclasses.replace(options, **changes))  # type: ignore[arg-type]


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The outcome of each validate_response call the federation service makes."""
    outcomes: list[str] = []
    real = federation.validate_response

    def counted(*args: Any, **kwargs: Any) -> Any:
        try:
            result = real(*args, **kwargs)
        except SamlError as exc:
            outcomes.append(exc.code)
            raise
        outcomes.append("ok")
        return result

    monkeypatch.setattr(federation, "validate_response", counted)
    return outcomes


def _offered(rt: Runtime, response: str) -> tuple[str, list[str]]:
    _token, sign_in = FederationService(rt).consume(response, None, None, CLIENT)
    return sign_in.provider_arn, sorted(offer.role_arn for offer in sign_in.offers())


def test_a_stale_registration_in_the_default_account_does_not_block_the_member_accounts(
    rt: Runtime, idp_keys: KeyPair, attacker_keys: KeyPair
) -> None:
    # The default account's registration still carries an old certificate; it is tried first.
    _register(rt, DEFAULT, "corp-old", attacker_keys.cert_pem, "OldRole")
    member_provider = _register(rt, MEMBER, "corp", idp_keys.cert_pem, "MemberRole")
    provider, roles = _offered(rt, _unsolicited(idp_keys, "_a1"))
    assert provider == member_provider
    assert roles == [f"arn:aws:iam::{MEMBER}:role/MemberRole"]  # never the stale registration's


def test_the_default_accounts_registration_wins_when_several_verify(rt: Runtime, idp_keys: KeyPair) -> None:
    default_provider = _register(rt, DEFAULT, "corp", idp_keys.cert_pem, "DefaultRole")
    _register(rt, MEMBER, "corp", idp_keys.cert_pem, "MemberRole")
    provider, roles = _offered(rt, _unsolicited(idp_keys, "_a2"))
    assert provider == default_provider
    assert roles == [f"arn:aws:iam::{DEFAULT}:role/DefaultRole"]


def test_a_hostile_registration_gets_only_what_its_own_key_signs(
    rt: Runtime, idp_keys: KeyPair, attacker_keys: KeyPair
) -> None:
    default_provider = _register(rt, DEFAULT, "corp", idp_keys.cert_pem, "DefaultRole")
    hostile = _register(rt, MEMBER, "corp", attacker_keys.cert_pem, "HostileRole")
    # The real IdP's sign-ins go through the real registration...
    assert _offered(rt, _unsolicited(idp_keys, "_a3")) == (
        default_provider,
        [f"arn:aws:iam::{DEFAULT}:role/DefaultRole"],
    )
    # ...and what the attacker's key signs reaches the attacker's own registration and roles only.
    assert _offered(rt, _unsolicited(attacker_keys, "_a4")) == (hostile, [f"arn:aws:iam::{MEMBER}:role/HostileRole"])


def test_when_no_registration_verifies_the_first_failure_is_reported_once(
    rt: Runtime, idp_keys: KeyPair, attacker_keys: KeyPair, validations: list[str]
) -> None:
    _register(rt, DEFAULT, "corp", idp_keys.cert_pem, "DefaultRole")
    _register(rt, MEMBER, "corp", idp_keys.cert_pem, "MemberRole")
    with pytest.raises(SamlError) as refused:
        FederationService(rt).consume(_unsolicited(attacker_keys, "_a5"), None, None, CLIENT)
    assert refused.value.code == "BadSignature"
    assert validations == ["BadSignature", "BadSignature"]  # each registration tried once
    with rt.db.transaction() as session:
        events = session.query(models.AuditEvent).filter(models.AuditEvent.event_name == "ConsoleLogin").all()
        assert [e.error_code for e in events] == ["BadSignature"]


def test_failures_that_do_not_depend_on_the_registration_are_not_retried(
    rt: Runtime, idp_keys: KeyPair, attacker_keys: KeyPair, validations: list[str]
) -> None:
    _register(rt, DEFAULT, "corp", idp_keys.cert_pem, "DefaultRole")
    _register(rt, MEMBER, "corp", idp_keys.cert_pem, "MemberRole")
    expired = _unsolicited(idp_keys, "_a6", not_on_or_after=dt.timedelta(minutes=-10))
    with pytest.raises(SamlError) as refused:
        FederationService(rt).consume(expired, None, None, CLIENT)
    assert refused.value.code == "Expired"
    assert validations == ["Expired"]


def test_a_pending_sign_in_in_this_browser_picks_its_registration(rt: Runtime, idp_keys: KeyPair) -> None:
    _register(rt, DEFAULT, "corp", idp_keys.cert_pem, "DefaultRole")
    member_provider = _register(rt, MEMBER, "corp", idp_keys.cert_pem, "MemberRole")
    service = FederationService(rt)
    # The person starts at the member account's registration (SP-initiated) in this browser.
    service.start_login(member_provider, "browser-cookie", None)
    with rt.db.transaction() as session:
        request_id = session.query(models.SamlRequest.request_id).one()[0]
    response = _unsolicited(idp_keys, "_a7", in_response_to=request_id)
    _token, sign_in = service.consume(response, None, "browser-cookie", CLIENT)
    assert sign_in.provider_arn == member_provider
    assert [o.role_arn for o in sign_in.offers()] == [f"arn:aws:iam::{MEMBER}:role/MemberRole"]
