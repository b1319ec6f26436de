"""SQLAlchemy 2 models. Every schema change ships as an Alembic migration in ``migrations/``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Stores aware UTC datetimes; SQLite drops tzinfo, so it is put back on the way out."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dt.datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


# Membership and attachments. The entity side cascades (deleting a user drops its rows); the
# policy side does not, so the database itself refuses to delete a policy still attached.
group_members = Table(
    "group_members",
    Base.metadata,
    Column("group_pk", ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    Column("user_pk", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True),
)
user_policy_attachments = Table(
    "user_policy_attachments",
    Base.metadata,
    Column("user_pk", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("policy_pk", ForeignKey("managed_policies.id"), primary_key=True, index=True),
)
group_policy_attachments = Table(
    "group_policy_attachments",
    Base.metadata,
    Column("group_pk", ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    Column("policy_pk", ForeignKey("managed_policies.id"), primary_key=True, index=True),
)
role_policy_attachments = Table(
    "role_policy_attachments",
    Base.metadata,
    Column("role_pk", ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True),
    Column("policy_pk", ForeignKey("managed_policies.id"), primary_key=True, index=True),
)


class Account(Base):
    __tablename__ = "accounts"
    id: Mapped[str] = mapped_column(String(12), primary_key=True)
    alias: Mapped[str | None] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(50), default="")
    email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[dt.datetime]


class SamlProvider(Base):
    __tablename__ = "saml_providers"
    __table_args__ = (UniqueConstraint("account_id", "name_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    name_key: Mapped[str] = mapped_column(String(128))
    arn: Mapped[str] = mapped_column(String(2048), unique=True)
    entity_id: Mapped[str] = mapped_column(String(1024), index=True)
    metadata_xml: Mapped[str] = mapped_column(Text)
    valid_until: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime]
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Per-provider SAML behaviour: allow_unsolicited, allow_sha1, mfa_authn_contexts.
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Where it came from: "api" or "file:<name>"; files are re-synced at start-up.
    source: Mapped[str] = mapped_column(String(300), default="api")


class Role(Base):
    __tablename__ = "roles"
    __table_args__ = (UniqueConstraint("account_id", "name_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    name_key: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(512), default="/")
    role_id: Mapped[str] = mapped_column(String(32), unique=True)
    arn: Mapped[str] = mapped_column(String(2048), unique=True)
    trust_policy: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(String(1000), default="")
    max_session_duration: Mapped[int] = mapped_column(Integer, default=3600)
    permissions_boundary_arn: Mapped[str | None] = mapped_column(String(2048))
    created_at: Mapped[dt.datetime]
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_used_at: Mapped[dt.datetime | None]
    last_used_region: Mapped[str | None] = mapped_column(String(32))
    inline_policies: Mapped[list[RoleInlinePolicy]] = relationship(
        back_populates="role", cascade="all, delete-orphan", order_by="RoleInlinePolicy.name"
    )
    attached_policies: Mapped[list[ManagedPolicy]] = relationship(
        secondary=role_policy_attachments, order_by=lambda: ManagedPolicy.name_key
    )


class RoleInlinePolicy(Base):
    __tablename__ = "role_inline_policies"
    __table_args__ = (UniqueConstraint("role_pk", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    role_pk: Mapped[int] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    document: Mapped[str] = mapped_column(Text)
    role: Mapped[Role] = relationship(back_populates="inline_policies")


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("account_id", "name_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    name_key: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(512), default="/")
    user_id: Mapped[str] = mapped_column(String(32), unique=True)
    arn: Mapped[str] = mapped_column(String(2048), unique=True)
    created_at: Mapped[dt.datetime]
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    permissions_boundary_arn: Mapped[str | None] = mapped_column(String(2048))
    inline_policies: Mapped[list[UserInlinePolicy]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="UserInlinePolicy.name"
    )
    attached_policies: Mapped[list[ManagedPolicy]] = relationship(
        secondary=user_policy_attachments, order_by=lambda: ManagedPolicy.name_key
    )
    groups: Mapped[list[Group]] = relationship(
        secondary=group_members, back_populates="members", order_by=lambda: Group.name_key
    )
    access_keys: Mapped[list[AccessKey]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="AccessKey.created_at"
    )


class UserInlinePolicy(Base):
    __tablename__ = "user_inline_policies"
    __table_args__ = (UniqueConstraint("user_pk", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_pk: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    document: Mapped[str] = mapped_column(Text)
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


class Group(Base):
    __tablename__ = "groups"
    __table_args__ = (UniqueConstraint("account_id", "name_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    name_key: Mapped[str] = mapped_column(String(128))
    path: Mapped[str] = mapped_column(String(512), default="/")
    group_id: Mapped[str] = mapped_column(String(32), unique=True)
    arn: Mapped[str] = mapped_column(String(2048), unique=True)
    created_at: Mapped[dt.datetime]
    inline_policies: Mapped[list[GroupInlinePolicy]] = relationship(
        back_populates="group", cascade="all, delete-orphan", order_by="GroupInlinePolicy.name"
    )
    attached_policies: Mapped[list[ManagedPolicy]] = relationship(
        secondary=group_policy_attachments, order_by=lambda: ManagedPolicy.name_key
    )
    members: Mapped[list[User]] = relationship(
        secondary=group_members, back_populates="groups", order_by=lambda: User.name_key
    )


class GroupInlinePolicy(Base):
    __tablename__ = "group_inline_policies"
    __table_args__ = (UniqueConstraint("group_pk", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    group_pk: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    document: Mapped[str] = mapped_column(Text)
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
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
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


class SamlRequest(Base):
    """An AuthnRequest this broker sent and has not yet seen answered (shared by all workers)."""

    __tablename__ = "saml_requests"
    request_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    provider_arn: Mapped[str] = mapped_column(String(2048))
    # SHA-256 of the browser binding cookie; the response must come back in the same browser.
    browser_binding: Mapped[str] = mapped_column(String(64))
    relay_state: Mapped[str | None] = mapped_column(String(512))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
    consumed_at: Mapped[dt.datetime | None]


class SeenAssertion(Base):
    """Replay guard: the primary key makes a second use fail in any process on the database."""

    __tablename__ = "seen_assertions"
    issuer: Mapped[str] = mapped_column(String(1024), primary_key=True)
    assertion_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)


class WebSession(Base):
    """A signed-in browser: what the assertion established, held server-side for role selection."""

    __tablename__ = "web_sessions"
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    provider_arn: Mapped[str] = mapped_column(String(2048))
    subject: Mapped[str] = mapped_column(String(1024))
    # Validated, secret-free assertion facts (context keys, session attributes, roles offered).
    assertion: Mapped[dict[str, Any]]
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)


class AuditEvent(Base):
    """One CloudTrail record, hash-chained in commit order (see ``broker.services.audit.chain``).

    ``seq`` is the row id; ``chain_index`` is the gapless position in the chain, assigned under
    the chain-head lock as the event is flushed. The other columns repeat fields of ``record``
    for LookupEvents; verification checks that they still agree with it.
    """

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_time", "event_time"),)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    event_time: Mapped[dt.datetime]
    event_source: Mapped[str] = mapped_column(String(64), index=True)
    event_name: Mapped[str] = mapped_column(String(128), index=True)
    username: Mapped[str | None] = mapped_column(String(256), index=True)
    access_key_id: Mapped[str | None] = mapped_column(String(20), index=True)
    error_code: Mapped[str | None] = mapped_column(String(64))
    read_only: Mapped[bool] = mapped_column(Boolean, default=False)
    record: Mapped[dict[str, Any]]
    # recipientAccountId: LookupEvents shows an account its own events only.
    account_id: Mapped[str | None] = mapped_column(String(12), index=True)
    chain_index: Mapped[int] = mapped_column(BigInteger, unique=True)
    # SHA-256 (hex) of the previous event in the chain, and of this one (prev_hash + record).
    prev_hash: Mapped[str] = mapped_column(String(64))
    event_hash: Mapped[str] = mapped_column(String(64))
    resources: Mapped[list[AuditResource]] = relationship(
        primaryjoin="AuditEvent.seq == foreign(AuditResource.event_seq)",
        cascade="all, delete-orphan",
        order_by="AuditResource.id",
    )


# --- CLI sign-in (browser redirect with PKCE, device authorization, CLI broker sessions) -------


class CliAuthorization(Base):
    """A ``/cli/authorize`` request, from the browser's first visit to its code's single use."""

    __tablename__ = "cli_authorizations"
    # SHA-256 of the handle the browser carries through the IdP round trip (never the handle).
    request_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    # SHA-256 of the one-time code, set once a role is chosen.
    code_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(String(64))
    redirect_uri: Mapped[str] = mapped_column(String(512))
    # RFC 7636 S256 challenge: base64url(SHA-256(code_verifier)).
    code_challenge: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(512))
    requested_role_arn: Mapped[str | None] = mapped_column(String(2048))
    requested_duration: Mapped[int | None] = mapped_column(Integer)
    provider: Mapped[str | None] = mapped_column(String(256))
    web_session_hash: Mapped[str | None] = mapped_column(String(64))
    role_arn: Mapped[str | None] = mapped_column(String(2048))
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
    code_expires_at: Mapped[dt.datetime | None]
    consumed_at: Mapped[dt.datetime | None]


class DeviceAuthorization(Base):
    """An RFC 8628 device authorization: pending, then approved or denied in a browser, then used once."""

    __tablename__ = "device_authorizations"
    device_code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Normalised (no dash, upper case); unique among the rows not yet purged.
    user_code: Mapped[str] = mapped_column(String(16), unique=True)
    client_id: Mapped[str] = mapped_column(String(64))
    requested_role_arn: Mapped[str | None] = mapped_column(String(2048))
    requested_duration: Mapped[int | None] = mapped_column(Integer)
    # Shown on the approval page so a person can tell their own request from a phished one.
    source_ip: Mapped[str | None] = mapped_column(String(64))
    interval_seconds: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # pending | approved | denied | consumed
    web_session_hash: Mapped[str | None] = mapped_column(String(64))
    role_arn: Mapped[str | None] = mapped_column(String(2048))
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
    last_polled_at: Mapped[dt.datetime | None]
    decided_at: Mapped[dt.datetime | None]
    consumed_at: Mapped[dt.datetime | None]


class CliSession(Base):
    """A CLI's hold on a web session: its refresh handle issues credentials with no browser."""

    __tablename__ = "cli_sessions"
    handle_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Ends with the web session (same expiry; deleted with it).
    web_session_hash: Mapped[str] = mapped_column(ForeignKey("web_sessions.id_hash", ondelete="CASCADE"), index=True)
    client_id: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(1024))
    provider_arn: Mapped[str] = mapped_column(String(2048))
    default_role_arn: Mapped[str] = mapped_column(String(2048))
    # The code or device code it came from: a replayed code revokes the session (RFC 6749 4.1.2).
    grant_ref: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]


# --- audit trail integrity and lookup (after AuditEvent) ------------------------------------------


class AuditResource(Base):
    """A resource an audit event names, indexed for LookupEvents' ResourceName and ResourceType.

    No foreign key: SQLite migrations rebuild a table to alter it, and dropping the old
    ``audit_events`` would cascade here. Purging deletes both; verification checks they agree.
    """

    __tablename__ = "audit_resources"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_seq: Mapped[int] = mapped_column(Integer, index=True)
    resource_type: Mapped[str | None] = mapped_column(String(64), index=True)
    # The ARN as recorded, and the name after the last "/" (what LookupEvents users type).
    resource_name: Mapped[str] = mapped_column(String(2048), index=True)
    short_name: Mapped[str] = mapped_column(String(512), index=True)


class AuditChainHead(Base):
    """The single row every audit append locks: where the chain ends, so the next event links to it."""

    __tablename__ = "audit_chain_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_index: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime | None]


class AuditDigest(Base):
    """A signed digest over the events since the previous digest (CloudTrail's digest file).

    ``document`` is the canonical JSON that was signed, kept verbatim; the other columns repeat
    its fields for queries.
    """

    __tablename__ = "audit_digests"
    digest_index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    first_index: Mapped[int] = mapped_column(BigInteger)
    last_index: Mapped[int] = mapped_column(BigInteger)
    start_time: Mapped[dt.datetime]
    end_time: Mapped[dt.datetime] = mapped_column(index=True)
    document: Mapped[str] = mapped_column(Text)
    signature: Mapped[str] = mapped_column(String(128))
    key_id: Mapped[str] = mapped_column(String(64))


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
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    user_pk: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    enabled_at: Mapped[dt.datetime | None]
    last_used_step: Mapped[int] = mapped_column(BigInteger, default=0)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    failures_since: Mapped[dt.datetime | None]
    locked_until: Mapped[dt.datetime | None]
    user: Mapped[User | None] = relationship()


# --- AWS Organizations -------------------------------------------------------------------------


class Organization(Base):
    """An organization: its management account, and the feature set it was created with."""

    __tablename__ = "organizations"
    id: Mapped[str] = mapped_column(String(34), primary_key=True)
    management_account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), unique=True)
    feature_set: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime]


class OrganizationNode(Base):
    """The root or an organizational unit. ``path`` lists the ids from the root down to this node
    (``r-ab12/ou-ab12-11111111``); OUs never move, so it is written once and gives an account's
    whole chain of SCP levels in one read. ``policy_types`` (root only) maps a type to its status."""

    __tablename__ = "organization_nodes"
    __table_args__ = (UniqueConstraint("parent_id", "name"),)
    id: Mapped[str] = mapped_column(String(70), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # ROOT | ORGANIZATIONAL_UNIT
    name: Mapped[str] = mapped_column(String(128))
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("organization_nodes.id"), index=True)
    path: Mapped[str] = mapped_column(String(1024))
    policy_types: Mapped[dict[str, Any]] = mapped_column(default=dict)
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime]


class OrganizationAccount(Base):
    """An account's membership: which organization, and which root or OU it sits in."""

    __tablename__ = "organization_accounts"
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    parent_id: Mapped[str] = mapped_column(ForeignKey("organization_nodes.id"), index=True)
    joined_method: Mapped[str] = mapped_column(String(16))  # CREATED | INVITED
    joined_at: Mapped[dt.datetime]
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    account: Mapped[Account] = relationship()


class CreateAccountRequest(Base):
    """CreateAccount's status record (DescribeCreateAccountStatus, ListCreateAccountStatus)."""

    __tablename__ = "organization_create_account_requests"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    account_name: Mapped[str] = mapped_column(String(50))
    state: Mapped[str] = mapped_column(String(16))  # IN_PROGRESS | SUCCEEDED | FAILED
    failure_reason: Mapped[str | None] = mapped_column(String(64))
    account_id: Mapped[str | None] = mapped_column(String(12))
    requested_at: Mapped[dt.datetime]
    completed_at: Mapped[dt.datetime | None]


class OrganizationPolicy(Base):
    """A policy of an organization, or (``organization_id`` NULL) an AWS-managed one such as
    FullAWSAccess, shared by every organization."""

    __tablename__ = "organization_policies"
    __table_args__ = (UniqueConstraint("organization_id", "type", "name"),)
    id: Mapped[str] = mapped_column(String(130), primary_key=True)
    organization_id: Mapped[str | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    type: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(String(512), default="")
    content: Mapped[str] = mapped_column(Text)
    aws_managed: Mapped[bool] = mapped_column(Boolean, default=False)
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime]


class OrganizationPolicyAttachment(Base):
    """A policy attached to a root, OU or account of one organization."""

    __tablename__ = "organization_policy_attachments"
    __table_args__ = (Index("ix_organization_policy_attachments_target", "organization_id", "target_id"),)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    policy_id: Mapped[str] = mapped_column(ForeignKey("organization_policies.id"), primary_key=True, index=True)
    target_id: Mapped[str] = mapped_column(String(70), primary_key=True)
    policy: Mapped[OrganizationPolicy] = relationship()
