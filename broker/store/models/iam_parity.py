"""Entities added for parity with AWS (issue 18): instance profiles and the role each holds,
service-linked role deletion tasks, service-specific credentials, Organizations handshakes."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Column, ForeignKey, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column

from broker.store.models._base import Base
from broker.store.models.iam import _NamedInAccount

# The role an instance profile holds (AWS allows one). Deleting the profile drops the row; the
# role side does not cascade, so the database itself refuses to delete a role still in a profile.
instance_profile_roles = Table(
    "instance_profile_roles",
    Base.metadata,
    Column("profile_pk", ForeignKey("instance_profiles.id", ondelete="CASCADE"), primary_key=True),
    Column("role_pk", ForeignKey("roles.id"), primary_key=True, index=True),
)


class InstanceProfile(_NamedInAccount, Base):
    __tablename__ = "instance_profiles"
    name_length = 128
    path: Mapped[str] = mapped_column(String(512), default="/")
    instance_profile_id: Mapped[str] = mapped_column(String(32), unique=True)
    arn: Mapped[str] = mapped_column(String(2048), unique=True)
    created_at: Mapped[dt.datetime]
    tags: Mapped[dict[str, str]] = mapped_column(default=dict)


class ServiceLinkedRoleDeletion(Base):
    """A DeleteServiceLinkedRole task, for GetServiceLinkedRoleDeletionStatus to report on."""

    __tablename__ = "service_linked_role_deletions"
    deletion_task_id: Mapped[str] = mapped_column(String(1000), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    role_arn: Mapped[str] = mapped_column(String(2048))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[dt.datetime]


class ServiceSpecificCredential(Base):
    """A user's credential for one service (CodeCommit Git, Keyspaces); the password is sealed at rest."""

    __tablename__ = "service_specific_credentials"
    credential_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    user_pk: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    service_name: Mapped[str] = mapped_column(String(128))
    service_user_name: Mapped[str] = mapped_column(String(200))
    password_sealed: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[dt.datetime]


class OrganizationHandshake(Base):
    """An invitation (InviteAccountToOrganization) of an account to an organization, and its state.

    It goes with its organization (DeleteOrganization) and records its parties by id."""

    __tablename__ = "organization_handshakes"
    id: Mapped[str] = mapped_column(String(34), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(32))
    # The invited party: an account id (Type ACCOUNT), or an email address (Type EMAIL).
    target_type: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(254), index=True)
    # The account the invitation reaches (for an email, the account registered with it).
    target_account_id: Mapped[str] = mapped_column(String(12), index=True)
    state: Mapped[str] = mapped_column(String(16))
    notes: Mapped[str | None] = mapped_column(String(1024))
    requested_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    tags: Mapped[dict[str, str]] = mapped_column(default=dict)
