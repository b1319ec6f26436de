"""One precise error per way a SAML message can be refused.

Each code has a log level (how loud an operator should hear it), a message that is safe to
show the person at the browser (it names what was wrong, never key material or the assertion),
the HTTP status the sign-in page is answered with and the STS error code ``AssumeRoleWithSAML``
answers with.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from broker.errors import BrokerError

# STS's codes for a refused assertion (botocore's STS model).
INVALID_IDENTITY_TOKEN = "InvalidIdentityToken"
EXPIRED_TOKEN = "ExpiredTokenException"
IDP_REJECTED_CLAIM = "IDPRejectedClaim"


@dataclass(frozen=True)
class _Kind:
    level: int
    user_message: str
    status: int = 403
    sts_code: str = INVALID_IDENTITY_TOKEN


# code -> what it means for each audience. Codes are stable: audit events and tests use them.
KINDS: dict[str, _Kind] = {
    "MessageTooLarge": _Kind(logging.WARNING, "The SAML response is larger than this broker accepts.", status=413),
    "MalformedMessage": _Kind(logging.WARNING, "The SAML response could not be read."),
    "ForbiddenXml": _Kind(logging.ERROR, "The SAML response uses XML features that are not allowed."),
    "UnknownIssuer": _Kind(
        logging.WARNING, "The SAML response comes from an identity provider this broker does not know."
    ),
    "AmbiguousIssuer": _Kind(
        logging.WARNING,
        "Several accounts register this identity provider; start the sign-in from the broker's login page.",
    ),
    "IssuerMismatch": _Kind(logging.ERROR, "The SAML response and its assertion name different issuers."),
    "StatusNotSuccess": _Kind(logging.INFO, "The identity provider did not sign you in.", sts_code=IDP_REJECTED_CLAIM),
    "MissingSignature": _Kind(logging.ERROR, "Neither the SAML response nor its assertion is signed."),
    "BadSignature": _Kind(logging.ERROR, "The signature on the SAML response does not verify with the provider's key."),
    "DisallowedAlgorithm": _Kind(
        logging.ERROR, "The SAML response is signed or encrypted with an algorithm this broker does not accept."
    ),
    "SignatureProfile": _Kind(
        logging.ERROR, "The signature on the SAML response does not follow the SAML signature profile."
    ),
    "DuplicateId": _Kind(logging.ERROR, "The SAML response contains duplicate IDs."),
    "WrongDestination": _Kind(logging.WARNING, "The SAML response was sent to a different address."),
    "WrongRecipient": _Kind(logging.WARNING, "The SAML assertion was issued for a different recipient."),
    "WrongAudience": _Kind(logging.WARNING, "The SAML assertion was issued for a different service."),
    "AssertionCount": _Kind(logging.ERROR, "The SAML response must carry exactly one assertion."),
    "NotYetValid": _Kind(
        logging.WARNING, "The SAML assertion is not valid yet; check the clocks.", sts_code=EXPIRED_TOKEN
    ),
    "Expired": _Kind(logging.WARNING, "The SAML assertion has expired; please sign in again.", sts_code=EXPIRED_TOKEN),
    "SubjectConfirmation": _Kind(logging.WARNING, "The SAML assertion's subject confirmation is not acceptable."),
    "UnknownRequest": _Kind(
        logging.WARNING, "The SAML response answers a sign-in this broker did not start, or one that expired."
    ),
    "BrowserMismatch": _Kind(logging.WARNING, "The SAML response answers a sign-in started in another browser."),
    "UntrustedOrigin": _Kind(
        logging.WARNING,
        "The sign-in was sent from a page that is not your identity provider's. If you did not just sign in, "
        "close this page.",
    ),
    "UnsolicitedRefused": _Kind(
        logging.WARNING, "This identity provider must be used through the broker's sign-in page."
    ),
    "Replay": _Kind(logging.ERROR, "This SAML assertion was already used."),
    "DecryptionFailed": _Kind(logging.ERROR, "The encrypted SAML assertion could not be decrypted."),
    "BadRelayState": _Kind(logging.WARNING, "The sign-in carried an unacceptable return address."),
    "ProviderExpired": _Kind(logging.WARNING, "The identity provider's registration has expired."),
    "MissingSubject": _Kind(logging.WARNING, "The SAML assertion has no subject."),
}


class SamlError(BrokerError):
    """A refused SAML message. ``detail`` is for logs and audit; ``message`` (``user_message``) for people."""

    def __init__(self, code: str, detail: str, internal: str | None = None) -> None:
        kind = KINDS.get(code)
        if kind is None:
            raise ValueError(f"unknown SAML error code {code}")
        self.code = code
        self.status = kind.status
        self.detail = detail
        # What really happened, for logs and the audit trail only, where ``detail`` must stay
        # uniform (an encrypted assertion nothing authenticated must not become an oracle).
        self.internal = internal
        super().__init__(kind.user_message)

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}"

    @property
    def audit_detail(self) -> str:
        return f"{self.detail} [{self.internal}]" if self.internal else self.detail

    @property
    def audit_message(self) -> str:
        return self.audit_detail

    @property
    def user_message(self) -> str:
        return self.message

    @property
    def log_level(self) -> int:
        return KINDS[self.code].level

    @property
    def sts_code(self) -> str:
        """The STS error ``AssumeRoleWithSAML`` answers this refusal with."""
        return KINDS[self.code].sts_code


class MetadataError(BrokerError):
    """A provider's metadata document is unusable; the message says why."""

    code = "MalformedMetadata"
