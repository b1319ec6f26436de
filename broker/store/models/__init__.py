"""SQLAlchemy 2 models. Every schema change ships as an Alembic migration in ``migrations/``.

One module per part of the schema; this package is their public API, so callers write
``models.Role`` whatever module a model lives in.
"""

from __future__ import annotations

from broker.store.models._base import Base, UTCDateTime
from broker.store.models.audit import AuditChainHead, AuditDigest, AuditEvent, AuditResource
from broker.store.models.iam import (
    AccessKey,
    Account,
    Generation,
    Group,
    GroupInlinePolicy,
    ManagedPolicy,
    MfaDevice,
    PolicyVersion,
    Role,
    RoleInlinePolicy,
    RoleTrustedPrincipal,
    SamlProvider,
    User,
    UserInlinePolicy,
    group_members,
    group_policy_attachments,
    role_policy_attachments,
    user_policy_attachments,
)
from broker.store.models.iam_parity import (
    InstanceProfile,
    OrganizationHandshake,
    ServiceLinkedRoleDeletion,
    ServiceSpecificCredential,
    instance_profile_roles,
)
from broker.store.models.organizations import (
    CreateAccountRequest,
    Organization,
    OrganizationAccount,
    OrganizationNode,
    OrganizationPolicy,
    OrganizationPolicyAttachment,
)
from broker.store.models.ratelimit import RateLimitBucket
from broker.store.models.sign_in import (
    CliAuthorization,
    CliSession,
    DeviceAuthorization,
    SamlRequest,
    SeenAssertion,
    WebSession,
)
from broker.store.models.sso import SsoAccessToken, SsoAuthorization, SsoClient, SsoSession

__all__ = [
    "AccessKey",
    "Account",
    "AuditChainHead",
    "AuditDigest",
    "AuditEvent",
    "AuditResource",
    "Base",
    "CliAuthorization",
    "CliSession",
    "CreateAccountRequest",
    "DeviceAuthorization",
    "Generation",
    "Group",
    "GroupInlinePolicy",
    "InstanceProfile",
    "ManagedPolicy",
    "MfaDevice",
    "Organization",
    "OrganizationAccount",
    "OrganizationHandshake",
    "OrganizationNode",
    "OrganizationPolicy",
    "OrganizationPolicyAttachment",
    "PolicyVersion",
    "RateLimitBucket",
    "Role",
    "RoleInlinePolicy",
    "RoleTrustedPrincipal",
    "SamlProvider",
    "SamlRequest",
    "SeenAssertion",
    "ServiceLinkedRoleDeletion",
    "ServiceSpecificCredential",
    "SsoAccessToken",
    "SsoAuthorization",
    "SsoClient",
    "SsoSession",
    "UTCDateTime",
    "User",
    "UserInlinePolicy",
    "WebSession",
    "group_members",
    "group_policy_attachments",
    "instance_profile_roles",
    "role_policy_attachments",
    "user_policy_attachments",
]
