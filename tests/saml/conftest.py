"""Keys (generated once per session), a pinned provider, and a harness around validate_response."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pytest

from broker.crypto.keys import generate_rsa_pair
from broker.saml.acs import AcsPolicy, ProviderTrust, validate_response
from broker.saml.assertion import Assertion
from broker.saml.errors import KINDS, SamlError
from tests.support.saml_factory import (
    ACS_URL,
    IDP_ENTITY_ID,
    RSA_SHA256,
    SHA256,
    SP_ENTITY_ID,
    ResponseOptions,
    Signer,
)

# A fixed instant: every time in a test is relative to it, and validate_response gets it as `now`.
NOW = dt.datetime(2025, 3, 14, 9, 26, 53, tzinfo=dt.UTC)
PROVIDER_ARN = "arn:aws:iam::123456789012:saml-provider/Corp"


@dataclass(frozen=True)
class KeyPair:
    key_pem: bytes
    cert_pem: bytes

    def signer(self, algorithm: str = RSA_SHA256, digest: str = SHA256) -> Signer:
        return Signer(self.key_pem, self.cert_pem, algorithm, digest)


def _pair(name: str) -> KeyPair:
    key_pem, cert_pem = generate_rsa_pair(name, key_size=2048)
    return KeyPair(key_pem, cert_pem)


@pytest.fixture(scope="session")
def idp_keys() -> KeyPair:
    return _pair("idp.corp.example")


@pytest.fixture(scope="session")
def idp_next_keys() -> KeyPair:
    """The IdP's next signing key, published alongside the current one during a rollover."""
    return _pair("idp.corp.example rollover")


@pytest.fixture(scope="session")
def attacker_keys() -> KeyPair:
    return _pair("idp.corp.example")  # same subject name as the real IdP: names prove nothing


@pytest.fixture(scope="session")
def sp_keys() -> KeyPair:
    return _pair("broker.example encryption")


@pytest.fixture(scope="session")
def other_sp_keys() -> KeyPair:
    return _pair("other-sp.example encryption")


@dataclass(frozen=True)
class Acs:
    """validate_response with this suite's SP policy and pinned provider."""

    idp: KeyPair
    sp: KeyPair
    provider: ProviderTrust
    policy: AcsPolicy

    def options(self, **changes: Any) -> ResponseOptions:
        """Response options at NOW, assertion signed by the IdP unless ``changes`` say otherwise."""
        base = ResponseOptions(now=NOW, sign_assertion=self.idp.signer())
        return dataclasses.replace(base, **changes)

    def find(self, providers: Iterable[ProviderTrust] | None = None) -> Any:
        table = {p.entity_id: p for p in (providers if providers is not None else [self.provider])}
        return lambda issuer, _in_response_to: table.get(issuer)

    def validate(
        self,
        saml_response: str,
        *,
        provider: ProviderTrust | None = None,
        providers: Iterable[ProviderTrust] | None = None,
        policy: AcsPolicy | None = None,
        now: dt.datetime | None = NOW,
    ) -> tuple[Assertion, ProviderTrust]:
        if provider is not None:
            providers = [provider]
        return validate_response(saml_response, policy or self.policy, self.find(providers), now)

    def accept(self, saml_response: str, **kwargs: Any) -> Assertion:
        assertion, provider = self.validate(saml_response, **kwargs)
        assert provider.entity_id == assertion.issuer
        return assertion

    def refuse(self, saml_response: str, code: str, **kwargs: Any) -> SamlError:
        """Assert that validation fails with exactly ``code``; return the error for more checks."""
        assert code in KINDS
        with pytest.raises(SamlError) as info:
            self.validate(saml_response, **kwargs)
        assert info.value.code == code, f"expected {code}, got {info.value.code}: {info.value.detail}"
        return info.value


@pytest.fixture(scope="session")
def acs(idp_keys: KeyPair, sp_keys: KeyPair) -> Acs:
    provider = ProviderTrust(arn=PROVIDER_ARN, name="Corp", entity_id=IDP_ENTITY_ID, signing_certs=(idp_keys.cert_pem,))
    policy = AcsPolicy(acs_url=ACS_URL, sp_entity_id=SP_ENTITY_ID, decryption_keys=(sp_keys.key_pem,))
    return Acs(idp=idp_keys, sp=sp_keys, provider=provider, policy=policy)
