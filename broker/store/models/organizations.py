"""AWS Organizations: organizations, roots and OUs, memberships, policies and attachments."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from broker.store.models._base import Base
from broker.store.models.iam import Account


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
    policy_types: Mapped[dict[str, str]] = mapped_column(default=dict)
    tags: Mapped[dict[str, str]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime]


class OrganizationAccount(Base):
    """An account's membership: which organization, and which root or OU it sits in."""

    __tablename__ = "organization_accounts"
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    parent_id: Mapped[str] = mapped_column(ForeignKey("organization_nodes.id"), index=True)
    joined_method: Mapped[str] = mapped_column(String(16))  # CREATED | INVITED
    joined_at: Mapped[dt.datetime]
    tags: Mapped[dict[str, str]] = mapped_column(default=dict)
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
    tags: Mapped[dict[str, str]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime]


class OrganizationPolicyAttachment(Base):
    """A policy attached to a root, OU or account of one organization."""

    __tablename__ = "organization_policy_attachments"
    __table_args__ = (Index("ix_organization_policy_attachments_target", "organization_id", "target_id"),)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    policy_id: Mapped[str] = mapped_column(ForeignKey("organization_policies.id"), primary_key=True, index=True)
    target_id: Mapped[str] = mapped_column(String(70), primary_key=True)
    policy: Mapped[OrganizationPolicy] = relationship()
