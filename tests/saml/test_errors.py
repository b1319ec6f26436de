"""SAML refusals are types that carry, per code, what each audience hears: status, STS code, messages."""

from __future__ import annotations

import pytest

from broker.errors import BrokerError
from broker.saml.errors import EXPIRED_TOKEN, IDP_REJECTED_CLAIM, INVALID_IDENTITY_TOKEN, KINDS, SamlError


@pytest.mark.parametrize("code", sorted(KINDS))
def test_every_kind_is_a_broker_error_with_its_status_and_messages(code: str) -> None:
    error = SamlError(code, "what happened", internal="what really happened")
    assert isinstance(error, BrokerError)
    assert error.code == code
    assert error.status == (413 if code == "MessageTooLarge" else 403)
    assert error.message == error.user_message == KINDS[code].user_message
    assert str(error) == f"{code}: what happened"  # logs and pysaml2's XmlsecError read this
    assert error.audit_detail == "what happened [what really happened]"
    assert "what really happened" not in error.message


@pytest.mark.parametrize(
    ("code", "sts_code"),
    [
        ("Expired", EXPIRED_TOKEN),
        ("NotYetValid", EXPIRED_TOKEN),
        ("StatusNotSuccess", IDP_REJECTED_CLAIM),
        ("BadSignature", INVALID_IDENTITY_TOKEN),
        ("Replay", INVALID_IDENTITY_TOKEN),
    ],
)
def test_each_kind_names_the_sts_error_it_answers_with(code: str, sts_code: str) -> None:
    assert SamlError(code, "x").sts_code == sts_code


def test_an_unknown_code_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown SAML error code"):
        SamlError("NoSuchKind", "x")
