"""Quotas and sizes of IAM and STS, in one place.

Values follow AWS's "IAM and AWS STS quotas" page and the constraints in botocore's
IAM/STS service models. Where AWS lets an account raise a quota, the value here is
AWS's default.
"""

from __future__ import annotations

from typing import Final

# --- Names, paths, identifiers (inclusive min/max lengths) ---------------------------
USER_NAME_MAX: Final = 64
# A user name an action looks up (the model's existingUserNameType): a longer one is just not found.
EXISTING_USER_NAME_MAX: Final = 128
ROLE_NAME_MAX: Final = 64
GROUP_NAME_MAX: Final = 128
INSTANCE_PROFILE_NAME_MAX: Final = 128
POLICY_NAME_MAX: Final = 128
SAML_PROVIDER_NAME_MAX: Final = 128
# A virtual MFA device name has no modeled maximum, but its ARN is its serial number
# (at most 256 characters) and "arn:aws:iam::123456789012:mfa/" takes 30 of them.
MFA_DEVICE_NAME_MAX: Final = 226
PATH_MAX: Final = 512
ROLE_SESSION_NAME_MIN: Final = 2
ROLE_SESSION_NAME_MAX: Final = 64
SOURCE_IDENTITY_MIN: Final = 2
# AWS documents 64 for AssumeRole/AssumeRoleWithSAML; newer botocore models say 256.
# The broker keeps the documented, tighter bound.
SOURCE_IDENTITY_MAX: Final = 64
ROLE_DESCRIPTION_MAX: Final = 1000
ACCOUNT_ALIAS_MIN: Final = 3
ACCOUNT_ALIAS_MAX: Final = 63
ARN_MIN: Final = 20
ARN_MAX: Final = 2048
ROLE_ARN_MIN: Final = ARN_MIN  # STS RoleArn / PrincipalArn parameters
ROLE_ARN_MAX: Final = ARN_MAX
MFA_SERIAL_NUMBER_MIN: Final = 9
MFA_SERIAL_NUMBER_MAX: Final = 256
SAML_METADATA_MIN: Final = 1000
SAML_METADATA_MAX: Final = 10_000_000

# --- Tags ----------------------------------------------------------------------------
TAG_KEY_MAX: Final = 128
TAG_VALUE_MAX: Final = 256
TAGS_PER_ENTITY: Final = 50
SESSION_TAGS_MAX: Final = 50
SESSION_TAG_KEY_MAX: Final = TAG_KEY_MAX
SESSION_TAG_VALUE_MAX: Final = TAG_VALUE_MAX
TRANSITIVE_TAG_KEYS_MAX: Final = SESSION_TAGS_MAX
RESERVED_TAG_PREFIX: Final = "aws:"

# --- Per-entity quotas ---------------------------------------------------------------
ACCESS_KEYS_PER_USER: Final = 2
GROUPS_PER_USER: Final = 10
MANAGED_POLICIES_PER_ENTITY: Final = 10  # attached to one user, group or role
POLICY_VERSIONS: Final = 5
MFA_DEVICES_PER_USER: Final = 8
VIRTUAL_MFA_DEVICES_PER_ACCOUNT: Final = 5000

# --- MFA code checks -----------------------------------------------------------------
MFA_CLOCK_DRIFT_STEPS: Final = 1  # a code of the previous or next 30 s step is accepted
MFA_MAX_FAILURES: Final = 5  # wrong codes within MFA_FAILURE_WINDOW_SECONDS lock the device...
MFA_FAILURE_WINDOW_SECONDS: Final = 300
MFA_LOCKOUT_SECONDS: Final = 300  # ...for this long
MFA_RESYNC_WINDOW_STEPS: Final = 10  # ResyncMFADevice looks this many steps back (5 minutes)
SAML_PROVIDERS_PER_ACCOUNT: Final = 100
ROLES_PER_ACCOUNT: Final = 1000
INSTANCE_PROFILES_PER_ACCOUNT: Final = 1000
ROLES_PER_INSTANCE_PROFILE: Final = 1  # AWS's quota name: InstanceSessionsPerInstanceProfile
USERS_PER_ACCOUNT: Final = 5000
GROUPS_PER_ACCOUNT: Final = 300
CUSTOMER_MANAGED_POLICIES_PER_ACCOUNT: Final = 1500

# --- Session durations (seconds) -----------------------------------------------------
MAX_SESSION_DURATION_MIN: Final = 3600
MAX_SESSION_DURATION_MAX: Final = 43200
MAX_SESSION_DURATION_DEFAULT: Final = 3600
DURATION_SECONDS_MIN: Final = 900
DURATION_SECONDS_MAX: Final = 43200
DURATION_SECONDS_DEFAULT: Final = 3600
ROLE_CHAINING_MAX_DURATION: Final = 3600

# --- STS request parameters ----------------------------------------------------------
SAML_ASSERTION_MIN: Final = 4
SAML_ASSERTION_MAX: Final = 100_000
POLICY_ARNS_MAX: Final = 10  # PolicyArns.member.N

# --- Policy document sizes (characters, whitespace not counted) ----------------------
MANAGED_POLICY_SIZE: Final = 6144
INLINE_POLICIES_USER_SIZE: Final = 2048  # total of a user's inline policies
INLINE_POLICIES_ROLE_SIZE: Final = 10240
INLINE_POLICIES_GROUP_SIZE: Final = 5120
TRUST_POLICY_SIZE: Final = 2048
SESSION_POLICY_SIZE: Final = 2048
# The raw text limit of any policy parameter in botocore's models, before the sizes above.
POLICY_DOCUMENT_MAX: Final = 131_072

# IAM measures policy size without whitespace; these are the only whitespace characters
# a policy document may contain (the rest of its alphabet is U+0020..U+00FF).
_POLICY_WHITESPACE: Final = frozenset(" \t\n\r")


def policy_size(document: str) -> int:
    """Size of a policy document as IAM counts it against the limits above."""
    return sum(1 for ch in document if ch not in _POLICY_WHITESPACE)
