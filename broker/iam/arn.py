"""The one source of truth for ARN formats: build them, and parse them strictly.

Parsers run on hostile input (the SAML ``Role`` attribute, STS ``RoleArn`` and
``PrincipalArn``, policy documents), so they reject anything the builders would not
produce: wrong partition, service, region or account, whitespace or control characters,
bad names or paths. Each rejection is an :class:`InvalidArn` saying exactly why.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

from broker.iam import limits
from broker.iam.names import (
    ValidationError,
    validate_group_name,
    validate_instance_profile_name,
    validate_mfa_device_name,
    validate_path,
    validate_policy_name,
    validate_role_name,
    validate_role_session_name,
    validate_saml_provider_name,
    validate_user_name,
)
from broker.iam.text import echo

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


@dataclass(frozen=True, slots=True)
class _PathedKind:
    """An IAM resource whose ARN is ``arn:aws:iam::ACCOUNT:TYPE/PATH/NAME``."""

    kind: str  # how messages call it
    resource_type: str
    validate_name: _Validator
    aws_managed: bool = False  # may belong to the "aws" account


_USER: Final = _PathedKind("user", "user", validate_user_name)
_GROUP: Final = _PathedKind("group", "group", validate_group_name)
_ROLE: Final = _PathedKind("role", "role", validate_role_name)
_POLICY: Final = _PathedKind("policy", "policy", validate_policy_name, aws_managed=True)
_MFA: Final = _PathedKind("MFA device", "mfa", validate_mfa_device_name)
_INSTANCE_PROFILE: Final = _PathedKind("instance profile", "instance-profile", validate_instance_profile_name)


@contextmanager
def _violations_as_invalid_arn(prefix: str) -> Iterator[None]:
    try:
        yield
    except ValidationError as exc:
        raise InvalidArn(prefix + "; ".join(exc.violations)) from None


def _checked_account(account: str) -> str:
    if not isinstance(account, str) or not _ACCOUNT.fullmatch(account):
        raise InvalidArn(f"Invalid account id '{echo(str(account))}': expected 12 digits")
    return account


def _validated(validator: _Validator, value: str, what: str) -> str:
    with _violations_as_invalid_arn(f"Invalid {what}: "):
        return validator(value)


def _pathed(pathed: _PathedKind, account: str, path: str, name: str) -> str:
    path = _validated(validate_path, path, "path")
    name = _validated(pathed.validate_name, name, f"{pathed.kind} name")
    return f"arn:{PARTITION}:iam::{account}:{pathed.resource_type}{path}{name}"


def user_arn(account: str, name: str, path: str = "/") -> str:
    """``arn:aws:iam::ACCOUNT:user/PATH/NAME`` (path ``/`` gives ``user/NAME``)."""
    return _pathed(_USER, _checked_account(account), path, name)


def group_arn(account: str, name: str, path: str = "/") -> str:
    return _pathed(_GROUP, _checked_account(account), path, name)


def role_arn(account: str, name: str, path: str = "/") -> str:
    return _pathed(_ROLE, _checked_account(account), path, name)


def policy_arn(account: str, name: str, path: str = "/") -> str:
    """A customer managed policy's ARN."""
    return _pathed(_POLICY, _checked_account(account), path, name)


def aws_managed_policy_arn(name: str, path: str = "/") -> str:
    """``arn:aws:iam::aws:policy/NAME`` (some AWS policies live under a path)."""
    return _pathed(_POLICY, AWS_ACCOUNT, path, name)


def mfa_arn(account: str, name: str, path: str = "/") -> str:
    """A virtual MFA device's ARN, which is also its serial number."""
    return _pathed(_MFA, _checked_account(account), path, name)


def instance_profile_arn(account: str, name: str, path: str = "/") -> str:
    """``arn:aws:iam::ACCOUNT:instance-profile/PATH/NAME``."""
    return _pathed(_INSTANCE_PROFILE, _checked_account(account), path, name)


def saml_provider_arn(account: str, name: str) -> str:
    name = _validated(validate_saml_provider_name, name, "SAML provider name")
    return f"arn:{PARTITION}:iam::{_checked_account(account)}:saml-provider/{name}"


def assumed_role_arn(account: str, role_name: str, session_name: str) -> str:
    """``arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION``; the role's path is not part of it."""
    role_name = _validated(validate_role_name, role_name, "role name")
    session_name = _validated(validate_role_session_name, session_name, "role session name")
    return f"arn:{PARTITION}:sts::{_checked_account(account)}:assumed-role/{role_name}/{session_name}"


def federated_user_arn(account: str, name: str) -> str:
    """``arn:aws:sts::ACCOUNT:federated-user/NAME``: a GetFederationToken session."""
    return f"arn:{PARTITION}:sts::{_checked_account(account)}:federated-user/{name}"


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


def _parse_pathed(text: str, pathed: _PathedKind) -> tuple[str, str, str]:
    arn = _parse_own(text, pathed.kind, "iam", aws_account=pathed.aws_managed)
    prefix = pathed.resource_type + "/"
    if not arn.resource.startswith(prefix):
        raise InvalidArn(f"Invalid {pathed.kind} ARN '{echo(text)}': the resource must start with '{prefix}'")
    rest = arn.resource[len(pathed.resource_type) :]  # "/PATH/NAME"
    cut = rest.rfind("/") + 1
    path, name = rest[:cut], rest[cut:]
    with _violations_as_invalid_arn(f"Invalid {pathed.kind} ARN '{echo(text)}': "):
        validate_path(path)
        pathed.validate_name(name)
    return arn.account, path, name


def parse_role_arn(text: str) -> tuple[str, str, str]:
    """``arn:aws:iam::ACCOUNT:role/PATH/NAME`` -> ``(account, path, name)``."""
    return _parse_pathed(text, _ROLE)


def parse_user_arn(text: str) -> tuple[str, str, str]:
    return _parse_pathed(text, _USER)


def parse_group_arn(text: str) -> tuple[str, str, str]:
    return _parse_pathed(text, _GROUP)


def parse_policy_arn(text: str) -> tuple[str, str, str]:
    """Customer or AWS managed policy ARN -> ``(account or "aws", path, name)``."""
    return _parse_pathed(text, _POLICY)


def parse_mfa_arn(text: str) -> tuple[str, str, str]:
    return _parse_pathed(text, _MFA)


def parse_saml_provider_arn(text: str) -> tuple[str, str]:
    """``arn:aws:iam::ACCOUNT:saml-provider/NAME`` -> ``(account, name)``."""
    arn = _parse_own(text, "SAML provider", "iam")
    prefix = "saml-provider/"
    if not arn.resource.startswith(prefix):
        raise InvalidArn(f"Invalid SAML provider ARN '{echo(text)}': the resource must start with '{prefix}'")
    name = arn.resource[len(prefix) :]
    with _violations_as_invalid_arn(f"Invalid SAML provider ARN '{echo(text)}': "):
        validate_saml_provider_name(name)
    return arn.account, name


def parse_assumed_role_arn(text: str) -> tuple[str, str, str]:
    """``arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`` -> ``(account, role, session)``."""
    arn = _parse_own(text, "assumed-role", "sts")
    parts = arn.resource.split("/")
    if len(parts) != 3 or parts[0] != "assumed-role":
        raise InvalidArn(
            f"Invalid assumed-role ARN '{echo(text)}': the resource must be 'assumed-role/ROLE-NAME/SESSION-NAME'"
        )
    with _violations_as_invalid_arn(f"Invalid assumed-role ARN '{echo(text)}': "):
        validate_role_name(parts[1])
        validate_role_session_name(parts[2])
    return arn.account, parts[1], parts[2]


def parse_account_root_arn(text: str) -> str:
    """``arn:aws:iam::ACCOUNT:root`` -> ``ACCOUNT``."""
    arn = _parse_own(text, "account root", "iam")
    if arn.resource != "root":
        raise InvalidArn(f"Invalid account root ARN '{echo(text)}': the resource must be 'root'")
    return arn.account
