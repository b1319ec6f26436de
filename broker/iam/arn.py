"""The one source of truth for ARN formats: build them, and parse them strictly.

Parsers run on hostile input (the SAML ``Role`` attribute, STS ``RoleArn`` and
``PrincipalArn``, policy documents), so they reject anything the builders would not
produce: wrong partition, service, region or account, whitespace or control characters,
bad names or paths. Each rejection is an :class:`InvalidArn` saying exactly why.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from broker.iam import limits
from broker.iam._text import echo
from broker.iam.names import (
    ValidationError,
    validate_group_name,
    validate_mfa_device_name,
    validate_path,
    validate_policy_name,
    validate_role_name,
    validate_role_session_name,
    validate_saml_provider_name,
    validate_user_name,
)

PARTITION: Final = "aws"
AWS_ACCOUNT: Final = "aws"  # the "account" of AWS-managed policies

_PARTITION = re.compile(r"aws(-[a-z]+)*")
_SERVICE = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
_REGION = re.compile(r"([a-z0-9]+(-[a-z0-9]+)*)?")
_ACCOUNT = re.compile(r"[0-9]{12}")

_Validator = Callable[[str], str]


class InvalidArn(ValueError):
    """A string that is not a well-formed ARN of the expected kind."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Arn:
    partition: str
    service: str
    region: str
    account: str
    resource: str

    @classmethod
    def parse(cls, text: str) -> Arn:
        """Split ``arn:partition:service:region:account:resource`` and check each part."""
        if not isinstance(text, str):
            raise InvalidArn(f"Invalid ARN: expected a string, got {type(text).__name__}")
        if len(text) > limits.ARN_MAX:
            raise InvalidArn(f"Invalid ARN '{echo(text)}': longer than {limits.ARN_MAX} characters")
        for ch in text:
            # Control, format (e.g. bidi overrides), surrogate and separator characters
            # never occur in ARNs the broker issues; they only serve spoofing.
            if unicodedata.category(ch)[0] in "CZ":
                raise InvalidArn(
                    f"Invalid ARN '{echo(text)}': contains the character U+{ord(ch):04X}, which ARNs may not contain"
                )
        parts = text.split(":", 5)
        if len(parts) != 6 or parts[0] != "arn":
            raise InvalidArn(f"Invalid ARN '{echo(text)}': expected 'arn:partition:service:region:account-id:resource'")
        _, partition, service, region, account, resource = parts
        if not _PARTITION.fullmatch(partition):
            raise InvalidArn(f"Invalid ARN '{echo(text)}': unknown partition '{echo(partition)}'")
        if not _SERVICE.fullmatch(service):
            raise InvalidArn(f"Invalid ARN '{echo(text)}': invalid service '{echo(service)}'")
        if not _REGION.fullmatch(region):
            raise InvalidArn(f"Invalid ARN '{echo(text)}': invalid region '{echo(region)}'")
        if account not in ("", AWS_ACCOUNT) and not _ACCOUNT.fullmatch(account):
            raise InvalidArn(f"Invalid ARN '{echo(text)}': the account id must be 12 digits, not '{echo(account)}'")
        if not resource:
            raise InvalidArn(f"Invalid ARN '{echo(text)}': the resource is empty")
        return cls(partition, service, region, account, resource)

    def __str__(self) -> str:
        return f"arn:{self.partition}:{self.service}:{self.region}:{self.account}:{self.resource}"


# --- Building --------------------------------------------------------------------------


def _checked_account(account: str) -> str:
    if not isinstance(account, str) or not _ACCOUNT.fullmatch(account):
        raise InvalidArn(f"Invalid account id '{echo(str(account))}': expected 12 digits")
    return account


def _validated(validator: _Validator, value: str, what: str) -> str:
    try:
        return validator(value)
    except ValidationError as exc:
        raise InvalidArn(f"Invalid {what}: " + "; ".join(exc.violations)) from None


def _pathed(service: str, account: str, resource_type: str, path: str, name: str) -> str:
    return f"arn:{PARTITION}:{service}::{account}:{resource_type}{path}{name}"


def user_arn(account: str, name: str, path: str = "/") -> str:
    """``arn:aws:iam::ACCOUNT:user/PATH/NAME`` (path ``/`` gives ``user/NAME``)."""
    return _pathed(
        "iam",
        _checked_account(account),
        "user",
        _validated(validate_path, path, "path"),
        _validated(validate_user_name, name, "user name"),
    )


def group_arn(account: str, name: str, path: str = "/") -> str:
    return _pathed(
        "iam",
        _checked_account(account),
        "group",
        _validated(validate_path, path, "path"),
        _validated(validate_group_name, name, "group name"),
    )


def role_arn(account: str, name: str, path: str = "/") -> str:
    return _pathed(
        "iam",
        _checked_account(account),
        "role",
        _validated(validate_path, path, "path"),
        _validated(validate_role_name, name, "role name"),
    )


def policy_arn(account: str, name: str, path: str = "/") -> str:
    """A customer managed policy's ARN."""
    return _pathed(
        "iam",
        _checked_account(account),
        "policy",
        _validated(validate_path, path, "path"),
        _validated(validate_policy_name, name, "policy name"),
    )


def aws_managed_policy_arn(name: str, path: str = "/") -> str:
    """``arn:aws:iam::aws:policy/NAME`` (some AWS policies live under a path)."""
    return _pathed(
        "iam",
        AWS_ACCOUNT,
        "policy",
        _validated(validate_path, path, "path"),
        _validated(validate_policy_name, name, "policy name"),
    )


def mfa_arn(account: str, name: str, path: str = "/") -> str:
    """A virtual MFA device's ARN, which is also its serial number."""
    return _pathed(
        "iam",
        _checked_account(account),
        "mfa",
        _validated(validate_path, path, "path"),
        _validated(validate_mfa_device_name, name, "MFA device name"),
    )


def saml_provider_arn(account: str, name: str) -> str:
    name = _validated(validate_saml_provider_name, name, "SAML provider name")
    return f"arn:{PARTITION}:iam::{_checked_account(account)}:saml-provider/{name}"


def assumed_role_arn(account: str, role_name: str, session_name: str) -> str:
    """``arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION``; the role's path is not part of it."""
    role_name = _validated(validate_role_name, role_name, "role name")
    session_name = _validated(validate_role_session_name, session_name, "role session name")
    return f"arn:{PARTITION}:sts::{_checked_account(account)}:assumed-role/{role_name}/{session_name}"


def account_root_arn(account: str) -> str:
    return f"arn:{PARTITION}:iam::{_checked_account(account)}:root"


# --- Parsing ---------------------------------------------------------------------------


def _parse_own(text: str, kind: str, service: str, *, aws_account: bool = False) -> Arn:
    """Parse an ARN of the broker's partition with no region and a real account."""
    arn = Arn.parse(text)
    if arn.partition != PARTITION:
        raise InvalidArn(f"Invalid {kind} ARN '{echo(text)}': the partition must be '{PARTITION}'")
    if arn.service != service:
        raise InvalidArn(f"Invalid {kind} ARN '{echo(text)}': the service must be '{service}', not '{arn.service}'")
    if arn.region:
        raise InvalidArn(f"Invalid {kind} ARN '{echo(text)}': IAM ARNs have no region, got '{arn.region}'")
    if not (_ACCOUNT.fullmatch(arn.account) or (aws_account and arn.account == AWS_ACCOUNT)):
        raise InvalidArn(f"Invalid {kind} ARN '{echo(text)}': the account id must be 12 digits")
    return arn


def _parse_pathed(
    text: str, kind: str, resource_type: str, validator: _Validator, *, aws_account: bool = False
) -> tuple[str, str, str]:
    arn = _parse_own(text, kind, "iam", aws_account=aws_account)
    prefix = resource_type + "/"
    if not arn.resource.startswith(prefix):
        raise InvalidArn(f"Invalid {kind} ARN '{echo(text)}': the resource must start with '{prefix}'")
    rest = arn.resource[len(resource_type) :]  # "/PATH/NAME"
    cut = rest.rfind("/") + 1
    path, name = rest[:cut], rest[cut:]
    try:
        validate_path(path)
        validator(name)
    except ValidationError as exc:
        raise InvalidArn(f"Invalid {kind} ARN '{echo(text)}': " + "; ".join(exc.violations)) from None
    return arn.account, path, name


def parse_role_arn(text: str) -> tuple[str, str, str]:
    """``arn:aws:iam::ACCOUNT:role/PATH/NAME`` -> ``(account, path, name)``."""
    return _parse_pathed(text, "role", "role", validate_role_name)


def parse_user_arn(text: str) -> tuple[str, str, str]:
    return _parse_pathed(text, "user", "user", validate_user_name)


def parse_group_arn(text: str) -> tuple[str, str, str]:
    return _parse_pathed(text, "group", "group", validate_group_name)


def parse_policy_arn(text: str) -> tuple[str, str, str]:
    """Customer or AWS managed policy ARN -> ``(account or "aws", path, name)``."""
    return _parse_pathed(text, "policy", "policy", validate_policy_name, aws_account=True)


def parse_mfa_arn(text: str) -> tuple[str, str, str]:
    return _parse_pathed(text, "MFA device", "mfa", validate_mfa_device_name)


def parse_saml_provider_arn(text: str) -> tuple[str, str]:
    """``arn:aws:iam::ACCOUNT:saml-provider/NAME`` -> ``(account, name)``."""
    arn = _parse_own(text, "SAML provider", "iam")
    prefix = "saml-provider/"
    if not arn.resource.startswith(prefix):
        raise InvalidArn(f"Invalid SAML provider ARN '{echo(text)}': the resource must start with '{prefix}'")
    name = arn.resource[len(prefix) :]
    try:
        validate_saml_provider_name(name)
    except ValidationError as exc:
        raise InvalidArn(f"Invalid SAML provider ARN '{echo(text)}': " + "; ".join(exc.violations)) from None
    return arn.account, name


def parse_assumed_role_arn(text: str) -> tuple[str, str, str]:
    """``arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`` -> ``(account, role, session)``."""
    arn = _parse_own(text, "assumed-role", "sts")
    parts = arn.resource.split("/")
    if len(parts) != 3 or parts[0] != "assumed-role":
        raise InvalidArn(
            f"Invalid assumed-role ARN '{echo(text)}': the resource must be 'assumed-role/ROLE-NAME/SESSION-NAME'"
        )
    try:
        validate_role_name(parts[1])
        validate_role_session_name(parts[2])
    except ValidationError as exc:
        raise InvalidArn(f"Invalid assumed-role ARN '{echo(text)}': " + "; ".join(exc.violations)) from None
    return arn.account, parts[1], parts[2]


def parse_account_root_arn(text: str) -> str:
    """``arn:aws:iam::ACCOUNT:root`` -> ``ACCOUNT``."""
    arn = _parse_own(text, "account root", "iam")
    if arn.resource != "root":
        raise InvalidArn(f"Invalid account root ARN '{echo(text)}': the resource must be 'root'")
    return arn.account
