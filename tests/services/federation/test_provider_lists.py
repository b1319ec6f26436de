"""The settings that name providers, compared as provider names are: without regard to case."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.services.federation.provider_lists import mfa_authn_contexts, named_in, unknown_provider_names
from broker.services.federation.providers import trust_from
from broker.services.runtime import Runtime
from broker.services.setup import sync_metadata_dir
from broker.settings import Settings
from broker.store import federation as federation_store
from broker.web.app import create_app
from tests.services.federation.corp import CORP_ARN, IdpKeys, corp_runtime, idp_keys, refusals, signed_response
from tests.support.metadata import idp_metadata_xml


@pytest.fixture(scope="module")
def keys() -> IdpKeys:
    return idp_keys()


@pytest.fixture
def runtime(tmp_path: Path, keys_dir: Path, sqlite_url: str, keys: IdpKeys) -> Iterator[Runtime]:
    rt = corp_runtime(tmp_path, keys_dir, sqlite_url, keys)
    yield rt
    rt.db.dispose()


def with_settings(rt: Runtime, **changes: object) -> Runtime:
    return dataclasses.replace(rt, settings=dataclasses.replace(rt.settings, **changes))


@pytest.mark.parametrize(
    ("names", "provider", "listed"),
    [
        (("corp",), "corp", True),
        (("Corp",), "corp", True),
        (("CORP", "adfs"), "Corp", True),
        (("corp",), "corp2", False),
        (("corp.eu",), "corp-eu", False),
        ((), "corp", False),
    ],
)
def test_names_are_compared_without_regard_to_case(names: tuple[str, ...], provider: str, listed: bool) -> None:
    assert named_in(names, provider) is listed


def test_mfa_contexts_are_read_per_provider_without_regard_to_case() -> None:
    settings = Settings(saml_mfa_authn_contexts=("Entra:urn:example:mfa", "entra:urn:example:otp", "ssp:urn:x"))
    assert mfa_authn_contexts(settings, "entra") == {"urn:example:mfa", "urn:example:otp"}
    assert mfa_authn_contexts(settings, "SSP") == {"urn:x"}
    assert mfa_authn_contexts(settings, "okta") == frozenset()


def test_an_idp_initiated_response_is_refused_whatever_the_case_of_the_setting(runtime: Runtime, keys: IdpKeys) -> None:
    for n, spelling in enumerate(("corp", "Corp", "CORP")):
        rt = with_settings(runtime, saml_refuse_unsolicited_providers=(spelling,))
        answer = (
            create_app(runtime=rt)
            .test_client()
            .post("/saml/acs", data={"SAMLResponse": signed_response(keys, f"_unsolicited{n}")})
        )
        assert answer.status_code == 403, (spelling, answer.status_code)
        assert refusals(runtime, "ConsoleLogin")[-1][0] == "UnsolicitedRefused"
    # Another provider's name refuses nothing of corp's.
    rt = with_settings(runtime, saml_refuse_unsolicited_providers=("corp2",))
    answer = (
        create_app(runtime=rt)
        .test_client()
        .post("/saml/acs", data={"SAMLResponse": signed_response(keys, "_unsolicited-other")})
    )
    assert answer.status_code == 303, answer.status_code  # signed in: on to the role page


def test_sha1_and_cbc_allowances_are_read_without_regard_to_case(runtime: Runtime) -> None:
    with runtime.db.read() as tx:
        provider = federation_store.provider_by_arn(tx, CORP_ARN)
    assert provider is not None
    plain = trust_from(provider, runtime.settings)
    assert (plain.allow_sha1, plain.allow_cbc) == (False, False)
    listed = trust_from(provider, Settings(saml_sha1_providers=("CORP",), saml_cbc_providers=("Corp",)))
    assert (listed.allow_sha1, listed.allow_cbc) == (True, True)


def test_names_that_match_no_provider_are_listed_once_each() -> None:
    settings = Settings(
        saml_sha1_providers=("Corp", "legacy"),
        saml_cbc_providers=("legacy",),
        saml_refuse_unsolicited_providers=("CORP", "corp-typo"),
        saml_mfa_authn_contexts=("entra:urn:a", "entra:urn:b", "corp:urn:c"),
    )
    assert unknown_provider_names(settings, ["corp", "Legacy"]) == [
        ("saml_refuse_unsolicited_providers", "corp-typo"),
        ("saml_mfa_authn_contexts", "entra"),
    ]


def test_start_up_warns_about_names_that_match_no_provider(runtime: Runtime, caplog: pytest.LogCaptureFixture) -> None:
    rt = with_settings(runtime, saml_refuse_unsolicited_providers=("Corp", "crop"), saml_cbc_providers=("okta",))
    (Path(rt.settings.metadata_dir) / "okta.xml").write_text(idp_metadata_xml("https://okta.example/md"))
    with caplog.at_level(logging.WARNING, logger="broker.federation"):
        assert sync_metadata_dir(rt) == ["okta"]
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert warnings == [
        "saml_refuse_unsolicited_providers names the SAML provider 'crop', which is not registered: the setting "
        "does nothing for it (check the spelling, or register the provider)"
    ]
