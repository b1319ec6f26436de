"""The error table against the brief and against botocore's IAM/STS models."""

from __future__ import annotations

from typing import Any

import botocore.loaders
import pytest

from broker.iam.errors import ERRORS, AwsError, error_spec

REQUIRED = [
    ("AccessDenied", 403),
    ("InvalidClientTokenId", 403),
    ("SignatureDoesNotMatch", 403),
    ("IncompleteSignature", 400),
    ("MissingAuthenticationToken", 403),
    ("ExpiredToken", 403),  # signed call with an expired session token
    ("ExpiredTokenException", 400),  # STS AssumeRoleWith* with an expired assertion
    ("RequestExpired", 400),
    ("InvalidIdentityToken", 400),
    ("IDPRejectedClaim", 403),
    ("MalformedPolicyDocument", 400),
    ("PackedPolicyTooLarge", 400),
    ("ValidationError", 400),
    ("EntityAlreadyExists", 409),
    ("NoSuchEntity", 404),
    ("LimitExceeded", 409),
    ("DeleteConflict", 409),
    ("InvalidInput", 400),
    ("InvalidAction", 400),
    ("MissingAction", 400),
    ("InvalidParameterValue", 400),
    ("ServiceFailure", 500),
    ("RegionDisabledException", 403),
    ("InvalidAuthorizationMessageException", 400),
]


@pytest.mark.parametrize(("code", "status"), REQUIRED)
def test_required_codes(code: str, status: int) -> None:
    assert ERRORS[code].status == status


def _modeled_errors() -> list[tuple[str, str, int, bool]]:
    loader = botocore.loaders.Loader()
    rows = []
    for service in ("iam", "sts"):
        model: dict[str, Any] = loader.load_service_model(service, "service-2")
        for shape in model["shapes"].values():
            error = shape.get("error")
            if shape.get("exception") and error and error.get("code") in ERRORS:
                rows.append((service, error["code"], error["httpStatusCode"], bool(error.get("senderFault"))))
    return rows


@pytest.mark.parametrize(("service", "code", "status", "sender"), _modeled_errors())
def test_codes_agree_with_botocore_models(service: str, code: str, status: int, sender: bool) -> None:
    spec = ERRORS[code]
    assert spec.status == status
    assert (spec.type == "Sender") is sender


def test_models_cover_the_codes_we_took_from_them() -> None:
    modeled = {code for _, code, _, _ in _modeled_errors()}
    assert {
        "ExpiredTokenException",
        "IDPRejectedClaim",
        "InvalidIdentityToken",
        "MalformedPolicyDocument",
        "PackedPolicyTooLarge",
        "RegionDisabledException",
        "InvalidAuthorizationMessageException",
        "EntityAlreadyExists",
        "NoSuchEntity",
        "LimitExceeded",
        "DeleteConflict",
        "InvalidInput",
        "ServiceFailure",
    } <= modeled


def test_table_is_consistent() -> None:
    for code, spec in ERRORS.items():
        assert code.isascii()
        assert code.isalnum()
        assert spec.type in ("Sender", "Receiver")
        assert (spec.status >= 500) is (spec.type == "Receiver")
        assert spec.message


def test_aws_error_defaults_and_overrides() -> None:
    error = AwsError("NoSuchEntity", "The role with name X cannot be found.")
    assert (error.code, error.status, error.type) == ("NoSuchEntity", 404, "Sender")
    assert error.message == str(error) == "The role with name X cannot be found."
    assert error.sender_fault
    default = AwsError("MissingAuthenticationToken")
    assert default.message == "Request is missing Authentication Token"
    assert not AwsError("ServiceFailure").sender_fault
    assert repr(error) == "AwsError('NoSuchEntity', 'The role with name X cannot be found.')"


def test_short_names_map_to_wire_codes() -> None:
    assert AwsError("RegionDisabled").code == "RegionDisabledException"
    assert AwsError("InvalidAuthorizationMessage").code == "InvalidAuthorizationMessageException"
    assert error_spec("RegionDisabled") is ERRORS["RegionDisabledException"]


def test_unknown_code_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown AWS error code 'NoSuchRole'"):
        AwsError("NoSuchRole")
    with pytest.raises(KeyError):
        error_spec("NoSuchRole")


def test_table_is_read_only() -> None:
    with pytest.raises(TypeError):
        ERRORS["Teapot"] = ERRORS["AccessDenied"]  # type: ignore[index]
