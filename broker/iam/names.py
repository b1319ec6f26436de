"""Validation of IAM/STS names, paths, tags and bounded integers, with AWS's messages.

Every check raises :class:`ValidationError` whose message reads like AWS's:
``1 validation error detected: Value 'x' at 'roleName' failed to satisfy constraint:
Member must have length less than or equal to 64``. Patterns are the ones in botocore's
IAM/STS models; AWS evaluates them as Java regexes, where ``\\w`` is ASCII-only, so the
Python patterns here use ``re.ASCII``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from broker.iam import limits, totp
from broker.iam.errors import ValidationFailed
from broker.iam.text import echo

__all__ = [
    "StringRule",
    "ValidationError",
    "constraint_violation",
    "name_key",
    "validate_account_alias",
    "validate_authentication_code",
    "validate_duration_seconds",
    "validate_existing_user_name",
    "validate_group_name",
    "validate_int_range",
    "validate_max_session_duration",
    "validate_mfa_device_name",
    "validate_path",
    "validate_policy_name",
    "validate_policy_path",
    "validate_role_description",
    "validate_role_name",
    "validate_role_session_name",
    "validate_saml_provider_name",
    "validate_serial_number",
    "validate_source_identity",
    "validate_tag_key",
    "validate_tag_value",
    "validate_tags",
    "validate_user_name",
    "validation_error",
]


class ValidationError(ValidationFailed):
    """AWS ``ValidationError`` (400). ``violations`` lists each failed constraint."""

    violations: tuple[str, ...]

    def __init__(self, message: str, violations: Sequence[str] = ()) -> None:
        super().__init__("ValidationError", message)
        self.violations = tuple(violations) or (message,)

    @classmethod
    def combine(cls, errors: Iterable[ValidationError]) -> ValidationError:
        """One error reporting every violation of several checks, as AWS does."""
        return validation_error([v for e in errors for v in e.violations])


def validation_error(violations: Sequence[str]) -> ValidationError:
    count = len(violations)
    noun = "error" if count == 1 else "errors"
    return ValidationError(f"{count} validation {noun} detected: " + "; ".join(violations), violations)


def length_violations(value: str, field: str, min_len: int, max_len: int, *, sensitive: bool = False) -> list[str]:
    """AWS's words for a length out of bounds: one constraint per bound broken (AWS never says
    "between"); a value the model marks sensitive is not quoted ("Value at 'field'")."""
    if min_len <= len(value) <= max_len:
        return []
    bound = f"greater than or equal to {min_len}" if len(value) < min_len else f"less than or equal to {max_len}"
    violation = constraint_violation(None if sensitive else value, field, f"must have length {bound}")
    return [violation.replace("Value null at", "Value at", 1) if sensitive else violation]


def constraint_violation(value: object, field: str, constraint: str) -> str:
    shown = "null" if value is None else f"'{echo(str(value))}'"
    return f"Value {shown} at '{field}' failed to satisfy constraint: Member {constraint}"


@dataclass(frozen=True, slots=True)
class _Pattern:
    """A pattern of botocore's models, and the Python regex that enforces it."""

    text: str  # as AWS's messages spell it
    regex: re.Pattern[str]


def _check_string(
    value: str | None,
    field: str,
    pattern: _Pattern | None,
    *,
    max_len: int,
    min_len: int = 1,
) -> str:
    if value is None:
        raise validation_error([constraint_violation(None, field, "must not be null")])
    violations: list[str] = []
    if len(value) < min_len:
        violations.append(constraint_violation(value, field, f"must have length greater than or equal to {min_len}"))
    if len(value) > max_len:
        violations.append(constraint_violation(value, field, f"must have length less than or equal to {max_len}"))
    if pattern is not None and pattern.regex.fullmatch(value) is None:
        violations.append(
            constraint_violation(value, field, f"must satisfy regular expression pattern: {pattern.text}")
        )
    if violations:
        raise validation_error(violations)
    return value


_NAME: Final = _Pattern(r"[\w+=,.@-]+", re.compile(r"[\w+=,.@-]+", re.ASCII))
_SAML_PROVIDER_NAME: Final = _Pattern(r"[\w._-]+", re.compile(r"[\w._-]+", re.ASCII))
_SESSION_NAME: Final = _Pattern(r"[\w+=,.@-]*", re.compile(r"[\w+=,.@-]*", re.ASCII))
# AWS's prose says paths may use U+0021..U+007F, but its model's pattern stops at U+007E;
# the pattern is what AWS enforces and keeps DEL (a control character) out of ARNs.
_PATH: Final = _Pattern(r"(\u002F)|(\u002F[\u0021-\u007E]+\u002F)", re.compile(r"/|/[\x21-\x7e]+/"))
_POLICY_PATH: Final = _Pattern(r"((/[A-Za-z0-9\.,\+@=_-]+)*)/", re.compile(r"(/[A-Za-z0-9.,+@=_-]+)*/"))
_DESCRIPTION: Final = _Pattern(
    r"[\u0009\u000A\u000D\u0020-\u007E\u00A1-\u00FF]*", re.compile(r"[\t\n\r\x20-\x7e\xa1-\xff]*")
)
_ACCOUNT_ALIAS: Final = _Pattern(
    r"^[a-z0-9]([a-z0-9]|-(?!-)){1,61}[a-z0-9]$", re.compile(r"[a-z0-9]([a-z0-9]|-(?!-)){1,61}[a-z0-9]")
)
_SERIAL_NUMBER: Final = _Pattern(r"[\w+=/:,.@-]+", re.compile(r"[\w+=/:,.@-]+", re.ASCII))
_AUTHENTICATION_CODE: Final = _Pattern(r"[\d]+", re.compile(r"\d+", re.ASCII))
_TAG_PATTERN_TEXT: Final = r"[\p{L}\p{Z}\p{N}_.:/=+\-@]"
_TAG_PUNCTUATION: Final = frozenset("_.:/=+-@")


def name_key(name: str) -> str:
    """The form names (and tag keys) are compared in: IAM names are unique case-insensitively."""
    return name.casefold()


@dataclass(frozen=True, slots=True)
class StringRule:
    """One string parameter's constraints; called as ``rule(value, field)`` it returns the value
    or raises a ValidationError naming each failed constraint, in AWS's words."""

    default_field: str
    pattern: _Pattern | None
    max_len: int
    min_len: int = 1

    def __call__(self, value: str | None, field: str | None = None) -> str:
        return _check_string(
            value, field or self.default_field, self.pattern, max_len=self.max_len, min_len=self.min_len
        )


validate_user_name: Final = StringRule("userName", _NAME, limits.USER_NAME_MAX)
validate_existing_user_name: Final = StringRule("userName", _NAME, limits.EXISTING_USER_NAME_MAX)
validate_role_name: Final = StringRule("roleName", _NAME, limits.ROLE_NAME_MAX)
validate_group_name: Final = StringRule("groupName", _NAME, limits.GROUP_NAME_MAX)
validate_policy_name: Final = StringRule("policyName", _NAME, limits.POLICY_NAME_MAX)
validate_instance_profile_name: Final = StringRule("instanceProfileName", _NAME, limits.INSTANCE_PROFILE_NAME_MAX)
validate_mfa_device_name: Final = StringRule("virtualMFADeviceName", _NAME, limits.MFA_DEVICE_NAME_MAX)
validate_saml_provider_name: Final = StringRule("name", _SAML_PROVIDER_NAME, limits.SAML_PROVIDER_NAME_MAX)
validate_role_session_name: Final = StringRule(
    "roleSessionName", _SESSION_NAME, limits.ROLE_SESSION_NAME_MAX, limits.ROLE_SESSION_NAME_MIN
)
validate_source_identity: Final = StringRule(
    "sourceIdentity", _SESSION_NAME, limits.SOURCE_IDENTITY_MAX, limits.SOURCE_IDENTITY_MIN
)
# User, group, role and MFA paths: ``/`` or ``/a/b/``; managed policy paths are narrower.
validate_path: Final = StringRule("path", _PATH, limits.PATH_MAX)
validate_policy_path: Final = StringRule("path", _POLICY_PATH, limits.PATH_MAX)
validate_role_description: Final = StringRule("description", _DESCRIPTION, limits.ROLE_DESCRIPTION_MAX, 0)
validate_account_alias: Final = StringRule(
    "accountAlias", _ACCOUNT_ALIAS, limits.ACCOUNT_ALIAS_MAX, limits.ACCOUNT_ALIAS_MIN
)
# An MFA device's serial number: a virtual device's ARN, or a hardware token's serial.
validate_serial_number: Final = StringRule(
    "serialNumber", _SERIAL_NUMBER, limits.MFA_SERIAL_NUMBER_MAX, limits.MFA_SERIAL_NUMBER_MIN
)
# A six-digit TOTP code (``authenticationCode1``, ``tokenCode``...).
validate_authentication_code: Final = StringRule("tokenCode", _AUTHENTICATION_CODE, totp.DIGITS, totp.DIGITS)


def _is_tag_text(text: str) -> bool:
    # Python's re has no \p{...}; match AWS's [\p{L}\p{Z}\p{N}_.:/=+\-@] by category.
    return all(unicodedata.category(ch)[0] in "LZN" or ch in _TAG_PUNCTUATION for ch in text)


def _check_tag_text(value: str | None, field: str, *, min_len: int, max_len: int) -> str:
    value = _check_string(value, field, None, min_len=min_len, max_len=max_len)
    if not _is_tag_text(value):
        quantifier = "+" if min_len else "*"
        raise validation_error(
            [
                constraint_violation(
                    value, field, f"must satisfy regular expression pattern: {_TAG_PATTERN_TEXT}{quantifier}"
                )
            ]
        )
    return value


def validate_tag_key(key: str | None, field: str = "key") -> str:
    key = _check_tag_text(key, field, min_len=1, max_len=limits.TAG_KEY_MAX)
    if key.casefold().startswith(limits.RESERVED_TAG_PREFIX):
        raise validation_error(
            [constraint_violation(key, field, f"must not start with '{limits.RESERVED_TAG_PREFIX}'")]
        )
    return key


def validate_tag_value(value: str | None, field: str = "value") -> str:
    return _check_tag_text(value, field, min_len=0, max_len=limits.TAG_VALUE_MAX)


def validate_tags(
    tags: Sequence[tuple[str, str]], field: str = "tags", limit: int = limits.TAGS_PER_ENTITY
) -> dict[str, str]:
    """Validate a tag list (order kept); keys must be unique case-insensitively."""
    if len(tags) > limit:
        raise validation_error(
            [constraint_violation(f"[{len(tags)} tags]", field, f"must have length less than or equal to {limit}")]
        )
    errors: list[ValidationError] = []
    seen: dict[str, str] = {}
    result: dict[str, str] = {}
    for index, (key, value) in enumerate(tags, start=1):
        try:
            validate_tag_key(key, f"{field}.{index}.member.key")
            validate_tag_value(value, f"{field}.{index}.member.value")
        except ValidationError as exc:
            errors.append(exc)
            continue
        folded = name_key(key)
        if folded in seen:
            errors.append(
                validation_error(
                    [
                        constraint_violation(
                            key, f"{field}.{index}.member.key", "must be unique (keys are case-insensitive)"
                        )
                    ]
                )
            )
            continue
        seen[folded] = key
        result[key] = value
    if errors:
        raise ValidationError.combine(errors)
    return result


def validate_int_range(value: int | None, field: str, minimum: int, maximum: int) -> int:
    if value is None:
        raise validation_error([constraint_violation(None, field, "must not be null")])
    if value < minimum:
        raise validation_error(
            [constraint_violation(value, field, f"must have value greater than or equal to {minimum}")]
        )
    if value > maximum:
        raise validation_error([constraint_violation(value, field, f"must have value less than or equal to {maximum}")])
    return value


def validate_duration_seconds(value: int | None, field: str = "durationSeconds") -> int:
    return validate_int_range(value, field, limits.DURATION_SECONDS_MIN, limits.DURATION_SECONDS_MAX)


def validate_max_session_duration(value: int | None, field: str = "maxSessionDuration") -> int:
    return validate_int_range(value, field, limits.MAX_SESSION_DURATION_MIN, limits.MAX_SESSION_DURATION_MAX)
