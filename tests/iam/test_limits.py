"""The limits module against the brief's figures and against botocore's IAM/STS models."""

from __future__ import annotations

from typing import Any

import botocore.loaders
import pytest

from broker.iam import limits


def _shape(service: str, name: str) -> dict[str, Any]:
    model = botocore.loaders.Loader().load_service_model(service, "service-2")
    shape: dict[str, Any] = model["shapes"][name]
    return shape


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (limits.ACCESS_KEYS_PER_USER, 2),
        (limits.GROUPS_PER_USER, 10),
        (limits.MANAGED_POLICIES_PER_ENTITY, 10),
        (limits.POLICY_VERSIONS, 5),
        (limits.MFA_DEVICES_PER_USER, 8),
        (limits.MAX_SESSION_DURATION_MIN, 3600),
        (limits.MAX_SESSION_DURATION_MAX, 43200),
        (limits.DURATION_SECONDS_MIN, 900),
        (limits.DURATION_SECONDS_MAX, 43200),
        (limits.DURATION_SECONDS_DEFAULT, 3600),
        (limits.SESSION_TAGS_MAX, 50),
        (limits.SESSION_TAG_KEY_MAX, 128),
        (limits.SESSION_TAG_VALUE_MAX, 256),
        (limits.MANAGED_POLICY_SIZE, 6144),
        (limits.INLINE_POLICIES_USER_SIZE, 2048),
        (limits.INLINE_POLICIES_ROLE_SIZE, 10240),
        (limits.INLINE_POLICIES_GROUP_SIZE, 5120),
        (limits.TRUST_POLICY_SIZE, 2048),
        (limits.SESSION_POLICY_SIZE, 2048),
        (limits.SAML_ASSERTION_MIN, 4),
        (limits.SAML_ASSERTION_MAX, 100_000),
        (limits.ROLE_ARN_MIN, 20),
        (limits.ROLE_ARN_MAX, 2048),
        (limits.POLICY_ARNS_MAX, 10),
        (limits.ROLE_CHAINING_MAX_DURATION, 3600),
    ],
)
def test_brief_figures(value: int, expected: int) -> None:
    assert value == expected


@pytest.mark.parametrize(
    ("service", "shape", "minimum", "maximum"),
    [
        (
            "iam",
            "roleMaxSessionDurationType",
            limits.MAX_SESSION_DURATION_MIN,
            limits.MAX_SESSION_DURATION_MAX,
        ),
        ("iam", "roleNameType", 1, limits.ROLE_NAME_MAX),
        ("iam", "userNameType", 1, limits.USER_NAME_MAX),
        ("iam", "groupNameType", 1, limits.GROUP_NAME_MAX),
        ("iam", "policyNameType", 1, limits.POLICY_NAME_MAX),
        ("iam", "SAMLProviderNameType", 1, limits.SAML_PROVIDER_NAME_MAX),
        ("iam", "pathType", 1, limits.PATH_MAX),
        ("iam", "tagKeyType", 1, limits.TAG_KEY_MAX),
        ("iam", "tagValueType", 0, limits.TAG_VALUE_MAX),
        ("iam", "roleDescriptionType", None, limits.ROLE_DESCRIPTION_MAX),
        ("iam", "accountAliasType", limits.ACCOUNT_ALIAS_MIN, limits.ACCOUNT_ALIAS_MAX),
        ("iam", "SAMLMetadataDocumentType", limits.SAML_METADATA_MIN, limits.SAML_METADATA_MAX),
        ("iam", "serialNumberType", limits.MFA_SERIAL_NUMBER_MIN, limits.MFA_SERIAL_NUMBER_MAX),
        ("iam", "policyDocumentType", 1, limits.POLICY_DOCUMENT_MAX),
        ("sts", "roleDurationSecondsType", limits.DURATION_SECONDS_MIN, limits.DURATION_SECONDS_MAX),
        ("sts", "SAMLAssertionType", limits.SAML_ASSERTION_MIN, limits.SAML_ASSERTION_MAX),
        ("sts", "arnType", limits.ROLE_ARN_MIN, limits.ROLE_ARN_MAX),
        ("sts", "roleSessionNameType", limits.ROLE_SESSION_NAME_MIN, limits.ROLE_SESSION_NAME_MAX),
        ("sts", "sessionPolicyDocumentType", 1, limits.SESSION_POLICY_SIZE),
        ("sts", "tagListType", None, limits.SESSION_TAGS_MAX),
        ("sts", "tagKeyListType", None, limits.TRANSITIVE_TAG_KEYS_MAX),
        ("sts", "tagKeyType", 1, limits.SESSION_TAG_KEY_MAX),
        ("sts", "tagValueType", 0, limits.SESSION_TAG_VALUE_MAX),
    ],
)
def test_agrees_with_botocore_models(service: str, shape: str, minimum: int | None, maximum: int) -> None:
    model = _shape(service, shape)
    assert model.get("min") == minimum
    assert model["max"] == maximum


def test_source_identity_uses_the_documented_bound() -> None:
    # Newer botocore models allow 256; AWS's AssumeRole/AssumeRoleWithSAML docs say 64.
    assert _shape("sts", "sourceIdentityType")["min"] == limits.SOURCE_IDENTITY_MIN
    assert _shape("sts", "sourceIdentityType")["max"] >= limits.SOURCE_IDENTITY_MAX


@pytest.mark.parametrize(
    ("document", "size"),
    [
        ("", 0),
        ('{"Version": "2012-10-17"}', 24),
        ('{\n\t"Version" :\r\n "2012-10-17"\n}', 24),
        ("caf\u00e9 \u00a0", 5),  # NBSP is a character of the policy alphabet, not whitespace
    ],
)
def test_policy_size_ignores_whitespace(document: str, size: int) -> None:
    assert limits.policy_size(document) == size
