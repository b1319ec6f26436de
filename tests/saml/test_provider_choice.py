"""One IdP registered in several accounts: which registration validates a sign-in.

Any account's administrators can register any IdP's public metadata, so the choice must not be
theirs to steer. A sign-in started at the broker is validated with the registration it was started
with (its AuthnRequest's); an IdP-initiated one with the only registration, or else the default
account's; with several and none in the default account it is refused. Exactly one validation
runs per response.
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
from broker.services.audit import ClientInfo
from broker.services.federation import FederationService, providers
from broker.services.iam import providers as iam_providers
from broker.services.iam import roles
from broker.services.runtime import Runtime
from broker.store import models
from tests.saml.conftest import KeyPair
from tests.support.brokers import make_runtime, make_settings
from tests.support.metadata import idp_metadata_xml
from tests.support.saml_factory import IDP_ENTITY_ID, Attr, ResponseOptions, response_b64

DEFAULT = "123456789012"
MEMBER = "210987654321"
OTHER = "100000000000"
CLIENT = ClientInfo(source_ip="198.51.100.7", user_agent="pytest", request_id="req-1")


@pytest.fixture
def rt(tmp_path: Path, keys_dir: Path, database_url: str) -> Iterator[Runtime]:
    runtime = make_runtime(make_settings(tmp_path, keys_dir, database_url, "https://broker.example"))
    with runtime.db.transaction() as session:
        for account in (MEMBER, OTHER):
            session.add(models.Account(id=account, alias=None, name=account, created_at=runtime.now()))
    yield runtime
    runtime.db.dispose()


def _register(rt: Runtime, account: str, name: str, cert_pem: bytes, role: str) -> str:
    """A registration of the IdP in ``account`` and a role there that trusts it."""
    with rt.db.transaction() as session:
        provider = iam_providers.create_saml_provider(
            session, account, name, idp_metadata_xml(IDP_ENTITY_ID, cert_pem), None, rt.now()
        )
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Federated": provider.arn}, "Action": "sts:AssumeRoleWithSAML"}
            ],
        }
        roles.create_role(
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
    real = providers.validate_response

    def counted(*args: Any, **kwargs: Any) -> Any:
        try:
            result = real(*args, **kwargs)
        except SamlError as exc:
            outcomes.append(exc.code)
            raise
        outcomes.append("ok")
        return result

    monkeypatch.setattr(providers, "validate_response", counted)
    return outcomes


def _offered(rt: Runtime, response: str) -> tuple[str, list[str]]:
    _token, sign_in = FederationService(rt).consume(response, None, None, CLIENT)
    return sign_in.provider_arn, sorted(offer.role_arn for offer in sign_in.offers())


def test_the_default_accounts_registration_takes_idp_initiated_sign_ins(
    rt: Runtime, idp_keys: KeyPair, validations: list[str]
) -> None:
    default_provider = _register(rt, DEFAULT, "corp", idp_keys.cert_pem, "DefaultRole")
    _register(rt, MEMBER, "corp", idp_keys.cert_pem, "MemberRole")  # the same IdP, same certificate
    assert _offered(rt, _unsolicited(idp_keys, "_a1")) == (
        default_provider,
        [f"arn:aws:iam::{DEFAULT}:role/DefaultRole"],
    )
    assert validations == ["ok"]


def test_a_hostile_registration_gets_nothing_the_real_idp_signs(
    rt: Runtime, idp_keys: KeyPair, attacker_keys: KeyPair, validations: list[str]
) -> None:
    default_provider = _register(rt, DEFAULT, "corp", idp_keys.cert_pem, "DefaultRole")
    _register(rt, MEMBER, "corp-copy", idp_keys.cert_pem, "HostileRole")  # the IdP's public metadata
    _register(rt, OTHER, "corp-forged", attacker_keys.cert_pem, "ForgedRole")
    assert _offered(rt, _unsolicited(idp_keys, "_a2")) == (
        default_provider,
        [f"arn:aws:iam::{DEFAULT}:role/DefaultRole"],
    )
    # What the attacker's own key signs is checked against the default registration, and fails.
    with pytest.raises(SamlError) as refused:
        FederationService(rt).consume(_unsolicited(attacker_keys, "_a3"), None, None, CLIENT)
    assert refused.value.code == "BadSignature"
    assert validations == ["ok", "BadSignature"]


def test_several_registrations_outside_the_default_account_are_ambiguous_when_idp_initiated(
    rt: Runtime, idp_keys: KeyPair, validations: list[str]
) -> None:
    _register(rt, MEMBER, "corp", idp_keys.cert_pem, "MemberRole")
    _register(rt, OTHER, "corp", idp_keys.cert_pem, "OtherRole")
    with pytest.raises(SamlError) as refused:
        FederationService(rt).consume(_unsolicited(idp_keys, "_a4"), None, None, CLIENT)
    assert refused.value.code == "AmbiguousIssuer"
    assert "login page" in refused.value.user_message
    assert validations == ["AmbiguousIssuer"]
    with rt.db.transaction() as session:
        events = session.query(models.AuditEvent).filter(models.AuditEvent.event_name == "ConsoleLogin").all()
        assert [e.error_code for e in events] == ["AmbiguousIssuer"]


def test_a_single_registration_in_any_account_serves_idp_initiated_sign_in(rt: Runtime, idp_keys: KeyPair) -> None:
    member_provider = _register(rt, MEMBER, "corp", idp_keys.cert_pem, "MemberRole")
    assert _offered(rt, _unsolicited(idp_keys, "_a5")) == (member_provider, [f"arn:aws:iam::{MEMBER}:role/MemberRole"])


def test_a_sign_in_started_at_the_broker_uses_the_registration_it_was_started_with(
    rt: Runtime, idp_keys: KeyPair, attacker_keys: KeyPair, validations: list[str]
) -> None:
    _register(rt, DEFAULT, "corp", idp_keys.cert_pem, "DefaultRole")
    member_provider = _register(rt, MEMBER, "corp", idp_keys.cert_pem, "MemberRole")
    service = FederationService(rt)
    service.start_login(member_provider, "browser-cookie", None)
    with rt.db.transaction() as session:
        request_id = session.query(models.SamlRequest.request_id).one()[0]
    _token, sign_in = service.consume(
        _unsolicited(idp_keys, "_a6", in_response_to=request_id), None, "browser-cookie", CLIENT
    )
    assert sign_in.provider_arn == member_provider
    assert [o.role_arn for o in sign_in.offers()] == [f"arn:aws:iam::{MEMBER}:role/MemberRole"]
    assert validations == ["ok"]


def test_a_forged_answer_to_someone_elses_request_is_checked_with_that_requests_registration(
    rt: Runtime, idp_keys: KeyPair, attacker_keys: KeyPair
) -> None:
    _register(rt, DEFAULT, "corp", idp_keys.cert_pem, "DefaultRole")
    hostile = _register(rt, MEMBER, "corp", attacker_keys.cert_pem, "HostileRole")
    service = FederationService(rt)
    service.start_login(f"{DEFAULT}/corp", "victim-cookie", None)
    with rt.db.transaction() as session:
        request_id = session.query(models.SamlRequest.request_id).one()[0]
    # Signed with the attacker's key, answering the victim's request: the victim's registration
    # (the default account's) checks it, not the attacker's.
    forged = _unsolicited(attacker_keys, "_a7", in_response_to=request_id)
    with pytest.raises(SamlError) as refused:
        service.consume(forged, None, "victim-cookie", CLIENT)
    assert refused.value.code == "BadSignature"
    assert hostile.endswith("/corp")
