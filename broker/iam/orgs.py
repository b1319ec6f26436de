"""AWS Organizations in plain values: identifier formats, ARNs, names, quotas, the input checks.

Formats are botocore's Organizations model (``organizations-2016-11-28``); every check raises
:class:`~broker.iam.errors.AwsError` ``InvalidInputException`` with the ``Reason`` AWS gives
(``INVALID_PATTERN``, ``MAX_LENGTH_EXCEEDED``...), so a handler is a few lines.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from typing import Final, Literal

from broker.iam.arn import AWS_ACCOUNT, PARTITION
from broker.iam.errors import AwsError
from broker.iam.text import echo

# --- quotas (AWS's defaults where a self-hosted broker has no reason to differ) -----------------
OU_MAX_DEPTH: Final = 5  # OUs nested below the root
OUS_PER_ORGANIZATION: Final = 1000
# AWS starts an organization at 10 accounts and raises it on request; a self-hosted broker starts
# where AWS's adjustable quota tops out for most customers.
ACCOUNTS_PER_ORGANIZATION: Final = 1000
POLICIES_PER_ORGANIZATION: Final = 1000
POLICIES_PER_TARGET: Final = 5  # SCPs attached to one root, OU or account
SCP_CONTENT_MAX: Final = 5120  # characters, whitespace included
MAX_RESULTS_MAX: Final = 20
TAGS_MAX: Final = 50

# --- enumerations -------------------------------------------------------------------------------
SERVICE_CONTROL_POLICY: Final = "SERVICE_CONTROL_POLICY"
# Policy types the Organizations API names; the broker enforces service control policies only.
POLICY_TYPES: Final = (
    SERVICE_CONTROL_POLICY,
    "RESOURCE_CONTROL_POLICY",
    "TAG_POLICY",
    "BACKUP_POLICY",
    "AISERVICES_OPT_OUT_POLICY",
    "CHATBOT_POLICY",
    "DECLARATIVE_POLICY_EC2",
    "SECURITYHUB_POLICY",
)
FEATURE_SETS: Final = ("ALL", "CONSOLIDATED_BILLING")
ROOT: Final = "ROOT"
ORGANIZATIONAL_UNIT: Final = "ORGANIZATIONAL_UNIT"
ACCOUNT: Final = "ACCOUNT"
ChildType = Literal["ACCOUNT", "ORGANIZATIONAL_UNIT"]

# --- FullAWSAccess, the AWS-managed SCP attached everywhere by default ---------------------------
FULL_AWS_ACCESS_ID: Final = "p-FullAWSAccess"
DEFAULT_ACCESS_ROLE: Final = "OrganizationAccountAccessRole"

# --- identifiers --------------------------------------------------------------------------------
_LOWER: Final = "abcdefghijklmnopqrstuvwxyz0123456789"
ORGANIZATION_ID: Final = re.compile(r"o-[a-z0-9]{10,32}")
ROOT_ID: Final = re.compile(r"r-[0-9a-z]{4,32}")
OU_ID: Final = re.compile(r"ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}")
POLICY_ID: Final = re.compile(r"p-[0-9a-zA-Z_]{8,128}")
CREATE_ACCOUNT_REQUEST_ID: Final = re.compile(r"car-[a-z0-9]{8,32}")
ACCOUNT_ID: Final = re.compile(r"[0-9]{12}")


def _any_of(*kinds: re.Pattern[str]) -> re.Pattern[str]:
    """The id of any of these kinds (a parameter that names, say, a root or an OU)."""
    return re.compile("|".join(kind.pattern for kind in kinds))


PARENT_ID: Final = _any_of(ROOT_ID, OU_ID)
TAGGABLE_ID: Final = _any_of(ROOT_ID, OU_ID, ACCOUNT_ID, POLICY_ID)
TARGET_ID: Final = _any_of(ROOT_ID, OU_ID, ACCOUNT_ID)
CHILD_ID: Final = _any_of(OU_ID, ACCOUNT_ID)

# --- other input formats ------------------------------------------------------------------------
_EMAIL: Final = re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]+")
_ACCOUNT_NAME: Final = re.compile(r"[\u0020-\u007E]+")
# ASCII: botocore's pattern is Java's, where \w is [a-zA-Z0-9_]; Python's would take "é" and IAM
# would refuse it later with IAM's own error code.
_ROLE_NAME: Final = re.compile(r"[\w+=,.@-]{1,64}", re.ASCII)
_TAG_PUNCTUATION: Final = frozenset("_.:/=+-@")


def _random(count: int) -> str:
    return "".join(secrets.choice(_LOWER) for _ in range(count))


def new_organization_id() -> str:
    return "o-" + _random(10)


def new_root_id() -> str:
    return "r-" + _random(4)


def new_ou_id(root_id: str) -> str:
    """``ou-{root suffix}-{8 chars}``: AWS's OU ids carry the root they were made under."""
    return f"ou-{root_id.removeprefix('r-')}-{_random(8)}"


def new_policy_id() -> str:
    return "p-" + _random(8)


def new_create_account_request_id() -> str:
    return "car-" + _random(32)


# --- ARNs (the one home of Organizations ARN formats) -------------------------------------------


def organization_arn(management_account: str, org_id: str) -> str:
    return f"arn:{PARTITION}:organizations::{management_account}:organization/{org_id}"


def root_arn(management_account: str, org_id: str, root_id: str) -> str:
    return f"arn:{PARTITION}:organizations::{management_account}:root/{org_id}/{root_id}"


def ou_arn(management_account: str, org_id: str, ou_id: str) -> str:
    return f"arn:{PARTITION}:organizations::{management_account}:ou/{org_id}/{ou_id}"


def account_arn(management_account: str, org_id: str, account_id: str) -> str:
    return f"arn:{PARTITION}:organizations::{management_account}:account/{org_id}/{account_id}"


def policy_arn(management_account: str, org_id: str, policy_id: str, policy_type: str = SERVICE_CONTROL_POLICY) -> str:
    return f"arn:{PARTITION}:organizations::{management_account}:policy/{org_id}/{policy_type.lower()}/{policy_id}"


def aws_managed_policy_arn(policy_id: str, policy_type: str = SERVICE_CONTROL_POLICY) -> str:
    return f"arn:{PARTITION}:organizations::{AWS_ACCOUNT}:policy/{policy_type.lower()}/{policy_id}"


# --- input checks -------------------------------------------------------------------------------


def invalid_input(reason: str, message: str) -> AwsError:
    return AwsError("InvalidInputException", message, reason=reason)


def required(body: object, field: str) -> object:
    """``body[field]``, which must be present and not null."""
    if not isinstance(body, dict):
        raise invalid_input("INPUT_REQUIRED", f"You must specify a value for {field}.")
    return given(body.get(field), field)


def given(value: object, field: str) -> object:
    """A parameter that must be present and not null."""
    if value is None:
        raise invalid_input("INPUT_REQUIRED", f"You must specify a value for {field}.")
    return value


def string(value: object, field: str, *, min_len: int = 1, max_len: int, pattern: re.Pattern[str] | None = None) -> str:
    if not isinstance(value, str):
        raise invalid_input("INVALID_SYNTAX", f"{field} must be a string.")
    if len(value) < min_len:
        raise invalid_input("MIN_LENGTH_EXCEEDED", f"{field} must be at least {min_len} characters long.")
    if len(value) > max_len:
        raise invalid_input("MAX_LENGTH_EXCEEDED", f"{field} must be at most {max_len} characters long.")
    if pattern is not None and pattern.fullmatch(value) is None:
        raise invalid_input("INVALID_PATTERN", f"{field} '{echo(value)}' does not match the required pattern.")
    if "\x00" in value:  # "[\s\S]*" takes it, but no database stores it (PostgreSQL refuses NUL in text)
        raise invalid_input("INVALID_PATTERN", f"{field} must not contain the character U+0000.")
    return value


def identifier(value: object, field: str, pattern: re.Pattern[str], reason: str = "INVALID_PATTERN") -> str:
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        shown = echo(value) if isinstance(value, str) else type(value).__name__
        raise invalid_input(reason, f"You specified an invalid value for {field}: '{shown}'.")
    return value


def enum(value: object, field: str, allowed: tuple[str, ...], reason: str = "INVALID_ENUM") -> str:
    if not isinstance(value, str) or value not in allowed:
        raise invalid_input(reason, f"You specified an invalid value for {field}. Valid values: {', '.join(allowed)}.")
    return value


def account_name(value: object) -> str:
    return string(value, "AccountName", max_len=50, pattern=_ACCOUNT_NAME)


def email(value: object) -> str:
    text = string(value, "Email", min_len=6, max_len=64, pattern=_EMAIL)
    return text


def role_name(value: object) -> str:
    return string(value, "RoleName", max_len=64, pattern=_ROLE_NAME)


def ou_name(value: object) -> str:
    return string(value, "Name", max_len=128)


def policy_name(value: object) -> str:
    return string(value, "Name", max_len=128)


def policy_description(value: object) -> str:
    return string(value, "Description", min_len=0, max_len=512)


def policy_content(value: object) -> str:
    text = string(value, "Content", max_len=1_000_000)
    if len(text) > SCP_CONTENT_MAX:
        raise AwsError(
            "ConstraintViolationException",
            f"The policy content is {len(text)} characters; a service control policy can have at most "
            f"{SCP_CONTENT_MAX} (whitespace included).",
            reason="POLICY_CONTENT_LIMIT_EXCEEDED",
        )
    return text


def max_results(value: object) -> int:
    if value is None:
        return MAX_RESULTS_MAX
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_input("INVALID_SYNTAX", "MaxResults must be an integer.")
    if value < 1:
        raise invalid_input("MIN_VALUE_EXCEEDED", "MaxResults must be at least 1.")
    if value > MAX_RESULTS_MAX:
        raise invalid_input("MAX_VALUE_EXCEEDED", f"MaxResults must be at most {MAX_RESULTS_MAX}.")
    return value


def _tag_text(text: str, field: str) -> str:
    """botocore's TagKey/TagValue pattern: letters, separators (spaces), numbers and ``_.:/=+-@``."""
    for ch in text:
        if unicodedata.category(ch)[0] not in "LZN" and ch not in _TAG_PUNCTUATION:
            raise invalid_input(
                "INVALID_PATTERN", f"{field} '{echo(text)}' may hold letters, digits, spaces and _.:/=+-@."
            )
    return text


def tags(value: object) -> dict[str, str]:
    """``Tags=[{"Key": ..., "Value": ...}]`` as a dict; keys 1..128, values 0..256, no duplicates."""
    if value is None:
        return {}
    if not isinstance(value, list):
        raise invalid_input("INVALID_SYNTAX", "Tags must be a list of Key/Value objects.")
    if len(value) > TAGS_MAX:
        raise AwsError(
            "ConstraintViolationException",
            f"A resource can have at most {TAGS_MAX} tags.",
            reason="MAX_TAG_LIMIT_EXCEEDED",
        )
    result: dict[str, str] = {}
    for item in value:
        if not isinstance(item, dict):
            raise invalid_input("INVALID_SYNTAX", "Each tag must be an object with Key and Value.")
        key = _tag_text(string(item.get("Key"), "Tags.Key", max_len=128), "Tags.Key")
        tag_value = _tag_text(string(item.get("Value"), "Tags.Value", min_len=0, max_len=256), "Tags.Value")
        if key in result:
            raise invalid_input("DUPLICATE_TAG_KEY", f"The tag key {echo(key)} is given more than once.")
        result[key] = tag_value
    return result
