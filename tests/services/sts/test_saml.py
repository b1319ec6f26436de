"""How AssumeRoleWithSAML words a refused assertion: the STS error class and message per SAML refusal."""

from __future__ import annotations

import pytest

from broker.iam.errors import ExpiredTokenException, IDPRejectedClaim, InvalidIdentityToken
from broker.saml.errors import SamlError
from broker.services.sts import sts_error_for


@pytest.mark.parametrize(
    ("code", "error_class", "message"),
    [
        ("Expired", ExpiredTokenException, "The SAML assertion is not valid at this time: it ended"),
        ("NotYetValid", ExpiredTokenException, "The SAML assertion is not valid at this time: it ended"),
        ("StatusNotSuccess", IDPRejectedClaim, "The identity provider did not authenticate the user: it ended"),
        (
            "BadSignature",
            InvalidIdentityToken,
            "The signature on the SAML response does not verify with the provider's key. (BadSignature: it ended)",
        ),
    ],
)
def test_saml_refusals_become_the_sts_error_aws_gives(code: str, error_class: type, message: str) -> None:
    error = sts_error_for(SamlError(code, "it ended", internal="never shown"))
    assert isinstance(error, error_class)
    assert error.message == message
