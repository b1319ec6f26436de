"""IAM: accounts, users, groups, roles, SAML providers, policies, access keys, MFA devices."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import BigInteger, Column, ForeignKey, Integer, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, Relationship, declared_attr, mapped_column, relationship

from broker.store.models._base import Base

# Membership and attachments. The entity side cascades (deleting a user drops its rows); the
# policy side does not, so the database itself refuses to delete a policy still attached.
group_members = Table(
    "group_members",
    Base.metadata,
    Column("group_pk", ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    Column("user_pk", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True),
)


def _policy_attachments(table_name: str, entity_pk: str, entity_table: str) -> Table:
    return Table(
        table_name,
        Base.metadata,
        Column(entity_pk, ForeignKey(f"{entity_table}.id", ondelete="CASCADE"), primary_key=True),
        Column("policy_pk", ForeignKey("managed_policies.id"), primary_key=True, index=True),
    )


user_policy_attachments = _policy_attachments("user_policy_attachments", "user_pk", "users")
group_policy_attachments = _policy_attachments("group_policy_attachments", "group_pk", "groups")
role_policy_attachments = _policy_attachments("role_policy_attachments", "role_pk", "roles")


class _NamedInAccount:
    """A user, group, role or SAML provider: its name is unique in its account, ignoring case
    (``name_key`` is the name folded for that comparison), and at most ``name_length`` long.

    ``sort_order`` keeps these four columns first, as the migrations created them.
    """

    name_length: ClassVar[int]
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True, sort_order=-1)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True, sort_order=-1)

    @declared_attr
    def name(cls) -> Mapped[str]:
        return mapped_column(String(cls.name_length), sort_order=-1)

    @declared_attr
    def name_key(cls) -> Mapped[str]:
        return mapped_column(String(cls.name_length), sort_order=-1)

    @declared_attr.directive
    def __table_args__(cls) -> tuple[UniqueConstraint]:
        return (UniqueConstraint("account_id", "name_key"),)


def _inline_policies(owner: str, policy_class: str) -> Relationship[Any]:
    """A user's, group's or role's inline policies, in name order; they go when it goes."""
    return relationship(back_populates=owner, cascade="all, delete-orphan", order_by=f"{policy_class}.name")


def _attached_policies(attachments: Table) -> Relationship[Any]:
    """The managed policies attached to a user, group or role, in name order."""
    return relationship(secondary=attachments, order_by=lambda: ManagedPolicy.name_key)


class _InlinePolicy:
    """An inline policy's own columns; each kind adds the foreign key to its owner.

    ``sort_order`` keeps ``id`` the first column, ahead of the owner's key.
    """

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True, sort_order=-1)
    name: Mapped[str] = mapped_column(String(128))
    document: Mapped[str] = mapped_column(Text)


class Account(Base):
    __tablename__ = "accounts"
    id: Mapped[str] = mapped_column(String(12), primary_key=True)
    alias: Mapped[str | None] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(50), default="")
    email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[dt.datetime]
    # When Organizations' CloseAccount closed it (AWS then shows it SUSPENDED); NULL while open.
    closed_at: Mapped[dt.datetime | None]


class SamlProvider(_NamedInAccount, Base):
    __tablename__ = "saml_providers"
    name_length = 128
    arn: Mapped[str] = mapped_column(String(2048), unique=True)
    entity_id: Mapped[str] = mapped_column(String(1024), index=True)
    metadata_xml: Mapped[str] = mapped_column(Text)
    valid_until: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime]
    tags: Mapped[dict[str, str]] = mapped_column(default=dict)
    # Per-provider SAML behaviour: allow_unsolicited, allow_sha1, mfa_authn_contexts.
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Where it came from: "api" or "file:<name>"; files are re-synced at start-up.
    source: Mapped[str] = mapped_column(String(300), default="api")
    # Metadata fetched from a URL on a schedule (metadata/NAME.url); all NULL for a provider that isn't.
    metadata_url: Mapped[str | None] = mapped_column(String(2048))
    # The PEM certificate the fetched metadata must be signed with, if one is pinned.
    metadata_pin: Mapped[str | None] = mapped_column(Text)
    last_fetch_at: Mapped[dt.datetime | None]
    last_fetch_error: Mapped[str | None] = mapped_column(String(1000))
    # Claimed by a conditional UPDATE, so one instance fetches per due time, cluster-wide.
    next_fetch_at: Mapped[dt.datetime | None]
    fetch_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Role(_NamedInAccount, Base):
    __tablename__ = "roles"
    name_length = 64
    path: Mapped[str] = mapped_column(String(512), default="/")
    role_id: Mapped[str] = mapped_column(String(32), unique=True)
    arn: Mapped[str] = mapped_column(String(2048), unique=True)
    trust_policy: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(String(1000), default="")
    max_session_duration: Mapped[int] = mapped_column(Integer, default=3600)
    permissions_boundary_arn: Mapped[str | None] = mapped_column(String(2048))
    created_at: Mapped[dt.datetime]
    tags: Mapped[dict[str, str]] = mapped_column(default=dict)
    last_used_at: Mapped[dt.datetime | None]
    last_used_region: Mapped[str | None] = mapped_column(String(32))
    inline_policies: Mapped[list[RoleInlinePolicy]] = _inline_policies("role", "RoleInlinePolicy")
    attached_policies: Mapped[list[ManagedPolicy]] = _attached_policies(role_policy_attachments)


class RoleInlinePolicy(_InlinePolicy, Base):
    __tablename__ = "role_inline_policies"
    __table_args__ = (UniqueConstraint("role_pk", "name"),)
    role_pk: Mapped[int] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"), index=True)
    role: Mapped[Role] = relationship(back_populates="inline_policies")


class RoleTrustedPrincipal(Base):
    """A principal a role's trust policy names (``*`` for anyone, or for a policy that cannot be
    indexed): sign-in reads the roles that trust a provider here instead of every role."""

    __tablename__ = "role_trusted_principals"
    role_pk: Mapped[int] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True)
    principal: Mapped[str] = mapped_column(String(2048), primary_key=True, index=True)


class Generation(Base):
    """A counter per scope (an account id, or ``*``), bumped in the transaction of any change to
    what that scope's caches hold, so every process sees a change at its next request."""

    __tablename__ = "generations"
    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class User(_NamedInAccount, Base):
    __tablename__ = "users"
    name_length = 64
    path: Mapped[str] = mapped_column(String(512), default="/")
    user_id: Mapped[str] = mapped_column(String(32), unique=True)
    arn: Mapped[str] = mapped_column(String(2048), unique=True)
    created_at: Mapped[dt.datetime]
    tags: Mapped[dict[str, str]] = mapped_column(default=dict)
    permissions_boundary_arn: Mapped[str | None] = mapped_column(String(2048))
    inline_policies: Mapped[list[UserInlinePolicy]] = _inline_policies("user", "UserInlinePolicy")
    attached_policies: Mapped[list[ManagedPolicy]] = _attached_policies(user_policy_attachments)
    groups: Mapped[list[Group]] = relationship(
        secondary=group_members, back_populates="members", order_by=lambda: Group.name_key
    )
    access_keys: Mapped[list[AccessKey]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="AccessKey.created_at"
    )


class UserInlinePolicy(_InlinePolicy, Base):
    __tablename__ = "user_inline_policies"
    __table_args__ = (UniqueConstraint("user_pk", "name"),)
    user_pk: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    user: Mapped[User] = relationship(back_populates="inline_policies")


class AccessKey(Base):
    __tablename__ = "access_keys"
    access_key_id: Mapped[str] = mapped_column(String(20), primary_key=True)
    user_pk: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    secret_sealed: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(8), default="Active")
    created_at: Mapped[dt.datetime]
    last_used_at: Mapped[dt.datetime | None]
    last_used_service: Mapped[str | None] = mapped_column(String(32))
    last_used_region: Mapped[str | None] = mapped_column(String(32))
    user: Mapped[User] = relationship(back_populates="access_keys")


class Group(_NamedInAccount, Base):
    __tablename__ = "groups"
    name_length = 128
    path: Mapped[str] = mapped_column(String(512), default="/")
    group_id: Mapped[str] = mapped_column(String(32), unique=True)
    arn: Mapped[str] = mapped_column(String(2048), unique=True)
    created_at: Mapped[dt.datetime]
    inline_policies: Mapped[list[GroupInlinePolicy]] = _inline_policies("group", "GroupInlinePolicy")
    attached_policies: Mapped[list[ManagedPolicy]] = _attached_policies(group_policy_attachments)
    members: Mapped[list[User]] = relationship(
        secondary=group_members, back_populates="groups", order_by=lambda: User.name_key
    )


class GroupInlinePolicy(_InlinePolicy, Base):
    __tablename__ = "group_inline_policies"
    __table_args__ = (UniqueConstraint("group_pk", "name"),)
    group_pk: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    group: Mapped[Group] = relationship(back_populates="inline_policies")


class ManagedPolicy(Base):
    """A customer managed policy, or an AWS-managed one (``account_id`` "aws") the broker ships."""

    __tablename__ = "managed_policies"
    __table_args__ = (UniqueConstraint("account_id", "name_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # No foreign key: AWS-managed policies belong to the pseudo-account "aws".
    account_id: Mapped[str] = mapped_column(String(12), index=True)
    name: Mapped[str] = mapped_column(String(128))
    name_key: Mapped[str] = mapped_column(String(128))
    path: Mapped[str] = mapped_column(String(512), default="/")
    policy_id: Mapped[str] = mapped_column(String(32), unique=True)
    arn: Mapped[str] = mapped_column(String(2048), unique=True)
    description: Mapped[str] = mapped_column(String(1000), default="")
    default_version_id: Mapped[str] = mapped_column(String(32))
    # Version ids are never reused: v1, v2... continue from the highest ever issued.
    last_version_number: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    tags: Mapped[dict[str, str]] = mapped_column(default=dict)
    versions: Mapped[list[PolicyVersion]] = relationship(
        back_populates="policy", cascade="all, delete-orphan", order_by="PolicyVersion.number.desc()"
    )

    @property
    def is_aws_managed(self) -> bool:
        return self.account_id == "aws"

    @property
    def default_version(self) -> PolicyVersion:
        for version in self.versions:
            if version.version_id == self.default_version_id:
                return version
        raise LookupError(f"{self.arn} has no version {self.default_version_id}")


class PolicyVersion(Base):
    __tablename__ = "policy_versions"
    __table_args__ = (UniqueConstraint("policy_pk", "version_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    policy_pk: Mapped[int] = mapped_column(ForeignKey("managed_policies.id", ondelete="CASCADE"), index=True)
    version_id: Mapped[str] = mapped_column(String(32))
    number: Mapped[int] = mapped_column(Integer)
    document: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime]
    policy: Mapped[ManagedPolicy] = relationship(back_populates="versions")


class MfaDevice(Base):
    """A virtual MFA device. Its seed is sealed at rest; ``last_used_step`` is the replay guard
    (a code's time step must be newer than the last one accepted, checked by one atomic UPDATE),
    and the failure counters throttle guessing, shared by every process on the database."""

    __tablename__ = "mfa_devices"
    __table_args__ = (UniqueConstraint("account_id", "name_key"),)
    serial_number: Mapped[str] = mapped_column(String(256), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    name: Mapped[str] = mapped_column(String(226))
    name_key: Mapped[str] = mapped_column(String(226))
    path: Mapped[str] = mapped_column(String(512), default="/")
    seed_sealed: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime]
    tags: Mapped[dict[str, str]] = mapped_column(default=dict)
    user_pk: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    enabled_at: Mapped[dt.datetime | None]
    last_used_step: Mapped[int] = mapped_column(BigInteger, default=0)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    failures_since: Mapped[dt.datetime | None]
    locked_until: Mapped[dt.datetime | None]
    user: Mapped[User | None] = relationship()
