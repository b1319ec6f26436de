"""The one table of AWS error codes the broker's IAM and STS Query APIs answer with.

Codes are the wire codes AWS sends in ``<Error><Code>``; botocore maps them to its
modeled exception classes by that exact string, so e.g. the STS SAML expiry error is
``ExpiredTokenException`` (as in botocore's STS model) while an expired session token on
a signed call is ``ExpiredToken`` (a common error, 403). Statuses come from botocore's
IAM/STS service models where modeled and from AWS's "Common Errors" pages otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from broker.errors import BrokerError

ErrorType = Literal["Sender", "Receiver"]


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    status: int
    type: ErrorType
    message: str


def _sender(status: int, message: str) -> ErrorSpec:
    return ErrorSpec(status, "Sender", message)


def _receiver(status: int, message: str) -> ErrorSpec:
    return ErrorSpec(status, "Receiver", message)


ERRORS: Mapping[str, ErrorSpec] = MappingProxyType(
    {
        # Authentication and request signing (common to every Query API).
        "AccessDenied": _sender(403, "User is not authorized to perform this action."),
        "IncompleteSignature": _sender(400, "The request signature does not conform to AWS standards."),
        "InvalidClientTokenId": _sender(403, "The security token included in the request is invalid."),
        "MissingAuthenticationToken": _sender(403, "Request is missing Authentication Token"),
        "SignatureDoesNotMatch": _sender(
            403,
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. "
            "Consult the service documentation for details.",
        ),
        "ExpiredToken": _sender(403, "The security token included in the request is expired"),
        "RequestExpired": _sender(400, "Request has expired."),
        "OptInRequired": _sender(403, "The AWS access key ID needs a subscription for the service."),
        # Request shape (common).
        "InvalidAction": _sender(400, "The action or operation requested is invalid."),
        "MissingAction": _sender(400, "Missing Action"),
        "MissingParameter": _sender(400, "A required parameter for the specified action is not supplied."),
        "InvalidParameterValue": _sender(400, "An invalid or out-of-range value was supplied for the input parameter."),
        "InvalidParameterCombination": _sender(400, "Parameters that must not be used together were used together."),
        "InvalidQueryParameter": _sender(400, "The AWS query string is malformed or does not adhere to AWS standards."),
        "MalformedQueryString": _sender(404, "The query string contains a syntax error."),
        "ValidationError": _sender(400, "The input fails to satisfy the constraints specified by an AWS service."),
        "Throttling": _sender(400, "Rate exceeded"),
        # STS (botocore's STS model).
        "ExpiredTokenException": _sender(400, "The SAML assertion has expired or is not yet valid."),
        "IDPRejectedClaim": _sender(403, "The identity provider (IdP) reported that authentication failed."),
        "InvalidIdentityToken": _sender(400, "The SAML assertion could not be validated."),
        "MalformedPolicyDocument": _sender(400, "The policy document is malformed."),
        "PackedPolicyTooLarge": _sender(400, "The session policies and session tags are too large."),
        "RegionDisabledException": _sender(403, "STS is not activated in the requested region for the account."),
        "InvalidAuthorizationMessageException": _sender(400, "The authorization message is invalid."),
        # IAM (botocore's IAM model).
        "EntityAlreadyExists": _sender(409, "The entity already exists."),
        "NoSuchEntity": _sender(404, "The entity does not exist."),
        "LimitExceeded": _sender(409, "The request would exceed a limit of the account."),
        "DeleteConflict": _sender(409, "The entity cannot be deleted while subordinate entities are attached."),
        "InvalidInput": _sender(400, "An invalid or out-of-range value was supplied for an input parameter."),
        "ConcurrentModification": _sender(409, "The entity was modified concurrently; retry the request."),
        "EntityTemporarilyUnmodifiable": _sender(409, "The entity is temporarily unmodifiable."),
        "UnmodifiableEntity": _sender(400, "The entity cannot be modified."),
        "InvalidAuthenticationCode": _sender(403, "The authentication code was not recognized."),
        "PasswordPolicyViolation": _sender(400, "The password does not meet the account password policy."),
        "NotSupportedService": _sender(404, "The specified service does not support service-specific credentials."),
        # AWS JSON protocol (X-Amz-Target services): the common errors under their JSON names.
        "AccessDeniedException": _sender(400, "You do not have sufficient access to perform this action."),
        "UnrecognizedClientException": _sender(400, "The security token included in the request is invalid."),
        "InvalidSignatureException": _sender(
            400, "The request signature we calculated does not match the signature you provided."
        ),
        "IncompleteSignatureException": _sender(400, "The request signature does not conform to AWS standards."),
        "MissingAuthenticationTokenException": _sender(400, "Missing Authentication Token"),
        "SerializationException": _sender(400, "The request body could not be read as JSON."),
        "UnknownOperationException": _sender(400, "The operation is not served by this endpoint."),
        # CloudTrail (botocore's CloudTrail model, LookupEvents).
        "InvalidLookupAttributesException": _sender(400, "Occurs when a lookup attribute is not valid."),
        "InvalidTimeRangeException": _sender(400, "Occurs if the timestamp values are not valid."),
        "InvalidMaxResultsException": _sender(400, "The maximum number of results is not valid."),
        "InvalidNextTokenException": _sender(400, "The token is not valid."),
        "InvalidEventCategoryException": _sender(400, "The event category is not valid."),
        "UnsupportedOperationException": _sender(400, "This operation is not supported."),
        "OperationNotPermittedException": _sender(400, "This operation is not permitted."),
        # Organizations (botocore's Organizations model; every error is a 400 with __type).
        "AWSOrganizationsNotInUseException": _sender(
            400,
            "Your account is not a member of an organization. To make this request, you must use the "
            "credentials of an account that belongs to an organization.",
        ),
        "AlreadyInOrganizationException": _sender(400, "This account is already a member of an organization."),
        "AccountNotFoundException": _sender(400, "We can't find an AWS account with the AccountId that you specified."),
        "ChildNotFoundException": _sender(
            400, "We can't find an organizational unit (OU) or AWS account with the ChildId that you specified."
        ),
        "ConstraintViolationException": _sender(
            400, "Performing this operation violates a minimum or maximum value limit."
        ),
        "CreateAccountStatusNotFoundException": _sender(
            400, "We can't find a create account request with the CreateAccountRequestId that you specified."
        ),
        "DestinationParentNotFoundException": _sender(
            400, "We can't find the destination container (a root or OU) with the ParentId that you specified."
        ),
        "DuplicateAccountException": _sender(400, "That account is already present in the specified destination."),
        "DuplicateOrganizationalUnitException": _sender(400, "An OU with the same name already exists."),
        "DuplicatePolicyAttachmentException": _sender(
            400, "The selected policy is already attached to the specified target."
        ),
        "DuplicatePolicyException": _sender(400, "A policy with the same name already exists."),
        "InvalidInputException": _sender(
            400,
            "The requested operation failed because you provided invalid values for one or more of the "
            "request parameters.",
        ),
        "MalformedPolicyDocumentException": _sender(
            400, "The provided policy document doesn't meet the requirements of the specified policy type."
        ),
        "OrganizationNotEmptyException": _sender(
            400,
            "The organization isn't empty. To delete an organization, you must first remove all accounts "
            "except the management account.",
        ),
        "OrganizationalUnitNotEmptyException": _sender(
            400,
            "The specified OU is not empty. Move all accounts to another root or to other OUs, remove all "
            "child OUs, and try the operation again.",
        ),
        "OrganizationalUnitNotFoundException": _sender(
            400, "We can't find an OU with the OrganizationalUnitId that you specified."
        ),
        "ParentNotFoundException": _sender(400, "We can't find a root or OU with the ParentId that you specified."),
        "PolicyInUseException": _sender(
            400,
            "The policy is attached to one or more entities. You must detach it from all roots, OUs, and "
            "accounts before performing this operation.",
        ),
        "PolicyNotAttachedException": _sender(
            400, "The policy isn't attached to the specified target in the specified root."
        ),
        "PolicyNotFoundException": _sender(400, "We can't find a policy with the PolicyId that you specified."),
        "PolicyTypeAlreadyEnabledException": _sender(
            400, "The specified policy type is already enabled in the specified root."
        ),
        "PolicyTypeNotAvailableForOrganizationException": _sender(
            400, "You can't use the specified policy type with the feature set currently enabled for this organization."
        ),
        "PolicyTypeNotEnabledException": _sender(
            400, "The specified policy type isn't currently enabled in this root."
        ),
        "RootNotFoundException": _sender(400, "We can't find a root with the RootId that you specified."),
        "HandshakeNotFoundException": _sender(
            400, "We can't find a handshake with the HandshakeId that you specified."
        ),
        "HandshakeAlreadyInStateException": _sender(400, "The specified handshake is already in the requested state."),
        "InvalidHandshakeTransitionException": _sender(
            400, "You can't perform the operation on the handshake in its current state."
        ),
        "HandshakeConstraintViolationException": _sender(
            400, "The requested operation would violate the constraint identified in the reason code."
        ),
        "DuplicateHandshakeException": _sender(400, "A handshake with the same action and target already exists."),
        "MasterCannotLeaveOrganizationException": _sender(
            400,
            "You can't remove a management account from an organization. If you want the management account to "
            "become a member account in another organization, you must first delete the current organization.",
        ),
        "AccountAlreadyClosedException": _sender(400, "You attempted to close an account that is already closed."),
        "SourceParentNotFoundException": _sender(
            400, "We can't find a source root or OU with the ParentId that you specified."
        ),
        "TargetNotFoundException": _sender(
            400, "We can't find a root, OU, account, or policy with the TargetId that you specified."
        ),
        # Server side.
        "ServiceFailure": _receiver(500, "The request processing has failed because of an unknown error."),
        "InternalFailure": _receiver(500, "The request processing has failed because of an unknown error."),
        "ServiceUnavailable": _receiver(503, "The request has failed due to a temporary failure of the server."),
    }
)

# The STS wire codes carry an "Exception" suffix; accept the short names too, since
# they are what AWS's prose (and this project's brief) calls them.
_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "RegionDisabled": "RegionDisabledException",
        "InvalidAuthorizationMessage": "InvalidAuthorizationMessageException",
    }
)


# What a Query-protocol code is called on the JSON protocol (botocore reads ``__type``).
JSON_PROTOCOL_CODES: Mapping[str, str] = MappingProxyType(
    {
        "AccessDenied": "AccessDeniedException",
        "InvalidClientTokenId": "UnrecognizedClientException",
        "SignatureDoesNotMatch": "InvalidSignatureException",
        "IncompleteSignature": "IncompleteSignatureException",
        "MissingAuthenticationToken": "MissingAuthenticationTokenException",
        "ExpiredToken": "ExpiredTokenException",
        "RequestExpired": "InvalidSignatureException",
        "InvalidAction": "UnknownOperationException",
    }
)


def error_spec(code: str) -> ErrorSpec:
    """Look up a wire code (or one of its short aliases); ``KeyError`` if unknown."""
    return ERRORS[_ALIASES.get(code, code)]


class AwsError(BrokerError):
    """An error the AWS-compatible endpoint renders as ``ErrorResponse`` (or JSON ``__type``).

    ``AwsError("NoSuchEntity", "The role with name X cannot be found.")`` builds an instance of
    the code's own class (:class:`NoSuchEntity`), so callers tell errors apart with ``except`` or
    ``isinstance``, never by comparing codes; without a message the table's default is used.
    An unknown code is a programming error.
    """

    type: ErrorType = "Sender"
    # Organizations' ConstraintViolationException and InvalidInputException say which rule
    # failed in a "Reason" member (MAX_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED, INVALID_PATTERN...).
    reason: str | None = None

    def __init_subclass__(cls, code: str | None = None, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if code is not None:
            if code not in ERRORS:
                raise ValueError(f"unknown AWS error code {code!r}; add it to broker.iam.errors.ERRORS")
            _CLASSES[code] = cls

    def __new__(cls, *args: Any, **kwargs: Any) -> AwsError:
        # AwsError(code, ...) is an instance of the code's class; a subclass builds itself.
        if cls is not AwsError:
            return super().__new__(cls)
        code = args[0] if args else kwargs["code"]
        return super().__new__(error_class(code))

    def __init__(self, code: str, message: str | None = None, *, reason: str | None = None) -> None:
        canonical = _ALIASES.get(code, code)
        spec = ERRORS.get(canonical)
        if spec is None:
            raise ValueError(f"unknown AWS error code {code!r}; add it to broker.iam.errors.ERRORS")
        self.code = canonical
        self.status = spec.status
        self.type = spec.type
        self.reason = reason
        super().__init__(spec.message if message is None else message)

    def for_json_protocol(self) -> AwsError:
        """The same error under the JSON protocol's name for it (``AccessDenied`` ->
        ``AccessDeniedException``...), as botocore reads ``__type``."""
        code = JSON_PROTOCOL_CODES.get(self.code)
        return AwsError(code, self.message, reason=self.reason) if code else self

    @property
    def sender_fault(self) -> bool:
        return self.type == "Sender"

    def __repr__(self) -> str:
        return f"AwsError({self.code!r}, {self.message!r})"


_CLASSES: dict[str, type[AwsError]] = {}


def error_class(code: str) -> type[AwsError]:
    """The class of a wire code (or alias): a named one below, else one made on first use."""
    canonical = _ALIASES.get(code, code)
    found = _CLASSES.get(canonical)
    if found is None:
        if canonical not in ERRORS:
            raise ValueError(f"unknown AWS error code {code!r}; add it to broker.iam.errors.ERRORS")
        found = type(canonical, (AwsError,), {"__module__": __name__})
        _CLASSES[canonical] = found
    return found


# The codes that callers catch by class. Every other code gets its class from error_class().
class AccessDenied(AwsError, code="AccessDenied"): ...


class AccessDeniedException(AwsError, code="AccessDeniedException"): ...


class InvalidClientTokenId(AwsError, code="InvalidClientTokenId"): ...


class ExpiredToken(AwsError, code="ExpiredToken"): ...


class ExpiredTokenException(AwsError, code="ExpiredTokenException"): ...


class NoSuchEntity(AwsError, code="NoSuchEntity"): ...


class EntityAlreadyExists(AwsError, code="EntityAlreadyExists"): ...


class InvalidInput(AwsError, code="InvalidInput"): ...


class ValidationFailed(AwsError, code="ValidationError"):
    """``ValidationError`` on the wire (the name :class:`broker.iam.names.ValidationError` keeps)."""


class InvalidIdentityToken(AwsError, code="InvalidIdentityToken"): ...


class IDPRejectedClaim(AwsError, code="IDPRejectedClaim"): ...


class InvalidAuthenticationCode(AwsError, code="InvalidAuthenticationCode"): ...
