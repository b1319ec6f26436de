"""Kinds of policy documents and the rules that differ between them."""

from __future__ import annotations

from enum import Enum

from broker.iam import limits


class PolicyKind(Enum):
    """Where a document is used; decides element requirements and size quota."""

    IDENTITY = "identity"
    MANAGED = "managed"
    # A policy AWS publishes (arn:aws:iam::aws:policy/...): customer quotas do not bind it.
    AWS_MANAGED = "aws-managed"
    INLINE_USER = "inline-user"
    INLINE_ROLE = "inline-role"
    INLINE_GROUP = "inline-group"
    TRUST = "trust"
    RESOURCE = "resource"
    BOUNDARY = "boundary"
    SESSION = "session"
    SCP = "scp"

    @property
    def size_limit(self) -> int:
        """Quota in characters, not counting whitespace."""
        return _SIZE_LIMITS[self]

    @property
    def has_principal(self) -> bool:
        """Resource and trust policies name who they apply to; the others must not."""
        return self in (PolicyKind.RESOURCE, PolicyKind.TRUST)

    @property
    def strict_sid(self) -> bool:
        """IAM-stored documents only accept alphanumeric Sids; resource policies of
        other services (S3, SNS...) accept free text there."""
        return self is not PolicyKind.RESOURCE

    @property
    def is_identity_like(self) -> bool:
        """Documents that grant to the identity they are attached to (no Principal)."""
        return self in _IDENTITY_LIKE


_IDENTITY_LIKE = frozenset(
    {
        PolicyKind.IDENTITY,
        PolicyKind.MANAGED,
        PolicyKind.AWS_MANAGED,
        PolicyKind.INLINE_USER,
        PolicyKind.INLINE_ROLE,
        PolicyKind.INLINE_GROUP,
        PolicyKind.BOUNDARY,
        PolicyKind.SESSION,
    }
)

# IAM's quotas (characters without whitespace) come from broker.iam.limits, the one
# home of IAM limits. The others are not IAM's: IDENTITY is the generic "some identity
# policy" kind and gets the largest identity quota (role inline); RESOURCE follows the
# largest common resource policy (S3 bucket policy, 20 KB); SCP is AWS Organizations'
# quota; a boundary is a managed policy.
_SIZE_LIMITS: dict[PolicyKind, int] = {
    PolicyKind.IDENTITY: limits.INLINE_POLICIES_ROLE_SIZE,
    PolicyKind.MANAGED: limits.MANAGED_POLICY_SIZE,
    # AWS's own documents (ReadOnlyAccess: about 97,000 characters) are bound only by the raw text cap.
    PolicyKind.AWS_MANAGED: limits.POLICY_DOCUMENT_MAX,
    PolicyKind.INLINE_USER: limits.INLINE_POLICIES_USER_SIZE,
    PolicyKind.INLINE_ROLE: limits.INLINE_POLICIES_ROLE_SIZE,
    PolicyKind.INLINE_GROUP: limits.INLINE_POLICIES_GROUP_SIZE,
    PolicyKind.TRUST: limits.TRUST_POLICY_SIZE,
    PolicyKind.RESOURCE: 20480,
    PolicyKind.BOUNDARY: limits.MANAGED_POLICY_SIZE,
    PolicyKind.SESSION: limits.SESSION_POLICY_SIZE,
    PolicyKind.SCP: 5120,
}

# Raw text cap, whitespace included: the quotas above ignore whitespace, so
# without it a megabyte of blanks would still be handed to the JSON parser.
MAX_RAW_LENGTH = limits.POLICY_DOCUMENT_MAX
