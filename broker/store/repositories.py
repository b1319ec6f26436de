"""Queries the services use; each takes the caller's Session so a use case stays one transaction."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from broker.store import models


def get_account(session: Session, account_id: str) -> models.Account | None:
    return session.get(models.Account, account_id)


def ensure_account(
    session: Session, account_id: str, alias: str | None = None, now: dt.datetime | None = None
) -> models.Account:
    account = session.get(models.Account, account_id)
    if account is None:
        account = models.Account(id=account_id, alias=alias or None, created_at=now or dt.datetime.now(dt.UTC))
        session.add(account)
        session.flush()
    return account


# --- SAML providers ---------------------------------------------------------------------------


def provider_by_name(session: Session, account_id: str, name_key: str) -> models.SamlProvider | None:
    return session.scalar(
        select(models.SamlProvider).where(
            models.SamlProvider.account_id == account_id, models.SamlProvider.name_key == name_key
        )
    )


def provider_by_arn(session: Session, arn: str) -> models.SamlProvider | None:
    return session.scalar(select(models.SamlProvider).where(models.SamlProvider.arn == arn))


def providers_by_entity_id(session: Session, entity_id: str) -> list[models.SamlProvider]:
    """Every account's registration of one IdP."""
    return list(
        session.scalars(
            select(models.SamlProvider)
            .where(models.SamlProvider.entity_id == entity_id)
            .order_by(models.SamlProvider.account_id, models.SamlProvider.name_key)
        )
    )


def list_providers(session: Session, account_id: str | None = None) -> list[models.SamlProvider]:
    query = select(models.SamlProvider).order_by(models.SamlProvider.account_id, models.SamlProvider.name_key)
    if account_id is not None:
        query = query.where(models.SamlProvider.account_id == account_id)
    return list(session.scalars(query))


# --- roles ------------------------------------------------------------------------------------


def role_by_name(session: Session, account_id: str, name_key: str) -> models.Role | None:
    return session.scalar(
        select(models.Role).where(models.Role.account_id == account_id, models.Role.name_key == name_key)
    )


def role_by_arn(session: Session, arn: str) -> models.Role | None:
    return session.scalar(select(models.Role).where(models.Role.arn == arn))


def list_roles(session: Session, account_id: str | None = None, path_prefix: str = "/") -> list[models.Role]:
    query = select(models.Role).order_by(models.Role.account_id, models.Role.name_key)
    if account_id is not None:
        query = query.where(models.Role.account_id == account_id)
    if path_prefix != "/":
        query = query.where(models.Role.path.startswith(path_prefix, autoescape=True))
    return list(session.scalars(query))


def roles_trusting(session: Session, provider_arn: str) -> list[models.Role]:
    """Candidate roles for a federated sign-in: those whose trust policy names the provider.

    A cheap pre-filter on the document text; the policy engine decides. Candidates name the
    provider, name any federated principal, or use a wildcard (``"Principal": "*"``,
    ``NotPrincipal``), which is where a federated sign-in could also be admitted.
    """
    query = (
        select(models.Role)
        .where(
            models.Role.trust_policy.contains(provider_arn, autoescape=True)
            | models.Role.trust_policy.contains("Federated", autoescape=True)
            | models.Role.trust_policy.contains("*", autoescape=True)
            | models.Role.trust_policy.contains("NotPrincipal", autoescape=True)
        )
        .order_by(models.Role.account_id, models.Role.name_key)
    )
    return list(session.scalars(query))


# --- users and access keys ------------------------------------------------------------------


def user_by_name(session: Session, account_id: str, name_key: str) -> models.User | None:
    return session.scalar(
        select(models.User).where(models.User.account_id == account_id, models.User.name_key == name_key)
    )


def access_key(session: Session, access_key_id: str) -> models.AccessKey | None:
    return session.get(models.AccessKey, access_key_id)


# --- SAML protocol state ----------------------------------------------------------------------


def add_saml_request(session: Session, request: models.SamlRequest) -> None:
    session.add(request)
    session.flush()


def consume_saml_request(session: Session, request_id: str, now: dt.datetime) -> models.SamlRequest | None:
    """Mark an outstanding request answered, atomically: of two racing consumers one wins."""
    result = session.execute(
        update(models.SamlRequest)
        .where(
            models.SamlRequest.request_id == request_id,
            models.SamlRequest.consumed_at.is_(None),
            models.SamlRequest.expires_at > now,
        )
        .values(consumed_at=now)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return session.get(models.SamlRequest, request_id)


def saml_request(session: Session, request_id: str) -> models.SamlRequest | None:
    return session.get(models.SamlRequest, request_id)


def remember_assertion(session: Session, issuer: str, assertion_id: str, expires_at: dt.datetime) -> bool:
    """Record an assertion ID; False if any process recorded it before (a replay)."""
    try:
        with session.begin_nested():
            session.add(models.SeenAssertion(issuer=issuer, assertion_id=assertion_id, expires_at=expires_at))
            session.flush()
    except IntegrityError:
        return False
    return True


def purge_expired(session: Session, now: dt.datetime) -> None:
    session.execute(delete(models.SeenAssertion).where(models.SeenAssertion.expires_at < now))
    session.execute(delete(models.SamlRequest).where(models.SamlRequest.expires_at < now - dt.timedelta(days=1)))
    session.execute(delete(models.WebSession).where(models.WebSession.expires_at < now))


def web_session(session: Session, id_hash: str, now: dt.datetime) -> models.WebSession | None:
    found = session.get(models.WebSession, id_hash)
    if found is None or found.expires_at <= now:
        return None
    return found


# --- IAM entities -----------------------------------------------------------------------------


def list_users(session: Session, account_id: str, path_prefix: str = "/") -> list[models.User]:
    query = select(models.User).where(models.User.account_id == account_id).order_by(models.User.name_key)
    if path_prefix != "/":
        query = query.where(models.User.path.startswith(path_prefix, autoescape=True))
    return list(session.scalars(query))


def user_by_arn(session: Session, arn: str) -> models.User | None:
    return session.scalar(select(models.User).where(models.User.arn == arn))


def group_by_name(session: Session, account_id: str, name_key: str) -> models.Group | None:
    return session.scalar(
        select(models.Group).where(models.Group.account_id == account_id, models.Group.name_key == name_key)
    )


def list_groups(session: Session, account_id: str, path_prefix: str = "/") -> list[models.Group]:
    query = select(models.Group).where(models.Group.account_id == account_id).order_by(models.Group.name_key)
    if path_prefix != "/":
        query = query.where(models.Group.path.startswith(path_prefix, autoescape=True))
    return list(session.scalars(query))


def policy_by_arn(session: Session, arn: str) -> models.ManagedPolicy | None:
    return session.scalar(select(models.ManagedPolicy).where(models.ManagedPolicy.arn == arn))


def policies_by_arns(session: Session, arns: list[str] | tuple[str, ...]) -> list[models.ManagedPolicy]:
    if not arns:
        return []
    return list(session.scalars(select(models.ManagedPolicy).where(models.ManagedPolicy.arn.in_(arns))))


def policy_by_name(session: Session, account_id: str, name_key: str) -> models.ManagedPolicy | None:
    return session.scalar(
        select(models.ManagedPolicy).where(
            models.ManagedPolicy.account_id == account_id, models.ManagedPolicy.name_key == name_key
        )
    )


def list_policies(session: Session, account_ids: tuple[str, ...], path_prefix: str = "/") -> list[models.ManagedPolicy]:
    """Managed policies of the given owners ("aws" for the AWS-managed ones), by name."""
    query = (
        select(models.ManagedPolicy)
        .where(models.ManagedPolicy.account_id.in_(account_ids))
        .order_by(models.ManagedPolicy.name_key, models.ManagedPolicy.account_id)
    )
    if path_prefix != "/":
        query = query.where(models.ManagedPolicy.path.startswith(path_prefix, autoescape=True))
    return list(session.scalars(query))


_ATTACHMENTS = (
    (models.user_policy_attachments, models.User, "user_pk"),
    (models.group_policy_attachments, models.Group, "group_pk"),
    (models.role_policy_attachments, models.Role, "role_pk"),
)


def attachment_counts(session: Session, account_id: str) -> dict[int, int]:
    """policy primary key -> number of users, groups and roles of the account it is attached to."""
    counts: dict[int, int] = {}
    for table, entity, column in _ATTACHMENTS:
        rows = session.execute(
            select(table.c.policy_pk, func.count())
            .join(entity, entity.id == table.c[column])
            .where(entity.account_id == account_id)
            .group_by(table.c.policy_pk)
        )
        for policy_pk, count in rows:
            counts[policy_pk] = counts.get(policy_pk, 0) + count
    return counts


def boundary_counts(session: Session, account_id: str) -> dict[str, int]:
    """policy ARN -> number of users and roles of the account that use it as permissions boundary."""
    counts: dict[str, int] = {}
    for entity in (models.User, models.Role):
        rows = session.execute(
            select(entity.permissions_boundary_arn, func.count())
            .where(entity.account_id == account_id, entity.permissions_boundary_arn.is_not(None))
            .group_by(entity.permissions_boundary_arn)
        )
        for arn, count in rows:
            if arn is not None:
                counts[arn] = counts.get(arn, 0) + count
    return counts


def entities_attached_to(
    session: Session, policy: models.ManagedPolicy, account_id: str
) -> tuple[list[models.User], list[models.Group], list[models.Role]]:
    """Users, groups and roles of the account that have ``policy`` attached, each by name."""
    users = session.scalars(
        select(models.User)
        .join(models.user_policy_attachments, models.user_policy_attachments.c.user_pk == models.User.id)
        .where(models.user_policy_attachments.c.policy_pk == policy.id, models.User.account_id == account_id)
        .order_by(models.User.name_key)
    )
    groups = session.scalars(
        select(models.Group)
        .join(models.group_policy_attachments, models.group_policy_attachments.c.group_pk == models.Group.id)
        .where(models.group_policy_attachments.c.policy_pk == policy.id, models.Group.account_id == account_id)
        .order_by(models.Group.name_key)
    )
    roles = session.scalars(
        select(models.Role)
        .join(models.role_policy_attachments, models.role_policy_attachments.c.role_pk == models.Role.id)
        .where(models.role_policy_attachments.c.policy_pk == policy.id, models.Role.account_id == account_id)
        .order_by(models.Role.name_key)
    )
    return list(users), list(groups), list(roles)


def entities_bounded_by(
    session: Session, policy_arn: str, account_id: str
) -> tuple[list[models.User], list[models.Role]]:
    users = session.scalars(
        select(models.User)
        .where(models.User.account_id == account_id, models.User.permissions_boundary_arn == policy_arn)
        .order_by(models.User.name_key)
    )
    roles = session.scalars(
        select(models.Role)
        .where(models.Role.account_id == account_id, models.Role.permissions_boundary_arn == policy_arn)
        .order_by(models.Role.name_key)
    )
    return list(users), list(roles)


def is_attached_anywhere(session: Session, policy: models.ManagedPolicy) -> bool:
    for table, _entity, _column in _ATTACHMENTS:
        if session.scalar(select(func.count()).select_from(table).where(table.c.policy_pk == policy.id)):
            return True
    for entity in (models.User, models.Role):
        if session.scalar(select(func.count()).where(entity.permissions_boundary_arn == policy.arn)):
            return True
    return False


def account_by_alias(session: Session, alias: str) -> models.Account | None:
    return session.scalar(select(models.Account).where(models.Account.alias == alias))


def user_by_user_id(session: Session, user_id: str) -> models.User | None:
    return session.scalar(select(models.User).where(models.User.user_id == user_id))


def user_with_policies(session: Session, user_id: str) -> models.User | None:
    """A user with everything its authorization reads, in a fixed handful of queries."""
    return session.scalar(
        select(models.User)
        .where(models.User.user_id == user_id)
        .options(
            selectinload(models.User.inline_policies),
            selectinload(models.User.attached_policies).selectinload(models.ManagedPolicy.versions),
            selectinload(models.User.groups).selectinload(models.Group.inline_policies),
            selectinload(models.User.groups)
            .selectinload(models.Group.attached_policies)
            .selectinload(models.ManagedPolicy.versions),
        )
    )


def role_with_policies(session: Session, role_arn: str) -> models.Role | None:
    return session.scalar(
        select(models.Role)
        .where(models.Role.arn == role_arn)
        .options(
            selectinload(models.Role.inline_policies),
            selectinload(models.Role.attached_policies).selectinload(models.ManagedPolicy.versions),
        )
    )


# --- CLI sign-in ------------------------------------------------------------------------------


def cli_authorization(session: Session, request_hash: str) -> models.CliAuthorization | None:
    return session.get(models.CliAuthorization, request_hash)


def cli_authorization_by_code(session: Session, code_hash: str) -> models.CliAuthorization | None:
    return session.scalar(select(models.CliAuthorization).where(models.CliAuthorization.code_hash == code_hash))


def consume_cli_code(session: Session, code_hash: str, now: dt.datetime) -> bool:
    """Mark a code used, atomically: of two racing exchanges exactly one gets True."""
    result = session.execute(
        update(models.CliAuthorization)
        .where(models.CliAuthorization.code_hash == code_hash, models.CliAuthorization.consumed_at.is_(None))
        .values(consumed_at=now)
    )
    return result.rowcount == 1  # type: ignore[attr-defined, no-any-return]


def device_authorization(session: Session, device_code_hash: str) -> models.DeviceAuthorization | None:
    return session.get(models.DeviceAuthorization, device_code_hash)


def device_authorization_by_user_code(session: Session, user_code: str) -> models.DeviceAuthorization | None:
    return session.scalar(select(models.DeviceAuthorization).where(models.DeviceAuthorization.user_code == user_code))


def add_device_authorization(session: Session, device: models.DeviceAuthorization) -> bool:
    """Insert; False if the user code is taken (the caller draws another)."""
    try:
        with session.begin_nested():
            session.add(device)
            session.flush()
    except IntegrityError:
        return False
    return True


def consume_device_authorization(session: Session, device_code_hash: str, now: dt.datetime) -> bool:
    """Approved -> consumed, atomically: of two racing polls exactly one gets True."""
    result = session.execute(
        update(models.DeviceAuthorization)
        .where(
            models.DeviceAuthorization.device_code_hash == device_code_hash,
            models.DeviceAuthorization.status == "approved",
        )
        .values(status="consumed", consumed_at=now)
    )
    return result.rowcount == 1  # type: ignore[attr-defined, no-any-return]


def count_cli_sessions(session: Session, web_session_hash: str, now: dt.datetime) -> int:
    """Live CLI sessions that hang on a web session."""
    return (
        session.scalar(
            select(func.count()).where(
                models.CliSession.web_session_hash == web_session_hash,
                models.CliSession.revoked_at.is_(None),
                models.CliSession.expires_at > now,
            )
        )
        or 0
    )


def cli_session(session: Session, handle_hash: str) -> models.CliSession | None:
    return session.get(models.CliSession, handle_hash)


def revoke_cli_sessions_from(session: Session, grant_ref: str, now: dt.datetime) -> int:
    result = session.execute(
        update(models.CliSession)
        .where(models.CliSession.grant_ref == grant_ref, models.CliSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def purge_cli_expired(session: Session, now: dt.datetime) -> None:
    # Used codes are kept an hour past expiry so that a replay is still recognised as one.
    grace = now - dt.timedelta(hours=1)
    session.execute(delete(models.CliAuthorization).where(models.CliAuthorization.expires_at < grace))
    session.execute(delete(models.DeviceAuthorization).where(models.DeviceAuthorization.expires_at < grace))
    session.execute(delete(models.CliSession).where(models.CliSession.expires_at < now))


# --- MFA devices ------------------------------------------------------------------------------


def mfa_device(session: Session, serial_number: str) -> models.MfaDevice | None:
    return session.get(models.MfaDevice, serial_number)


def mfa_device_by_name(session: Session, account_id: str, name_key: str) -> models.MfaDevice | None:
    return session.scalar(
        select(models.MfaDevice).where(models.MfaDevice.account_id == account_id, models.MfaDevice.name_key == name_key)
    )


def mfa_devices_of_account(session: Session, account_id: str) -> list[models.MfaDevice]:
    return list(
        session.scalars(
            select(models.MfaDevice)
            .where(models.MfaDevice.account_id == account_id)
            .order_by(models.MfaDevice.serial_number)
        )
    )


def mfa_devices_of_user(session: Session, user_pk: int) -> list[models.MfaDevice]:
    return list(
        session.scalars(
            select(models.MfaDevice)
            .where(models.MfaDevice.user_pk == user_pk)
            .order_by(models.MfaDevice.enabled_at, models.MfaDevice.serial_number)
        )
    )


def use_mfa_step(session: Session, serial_number: str, step: int) -> bool:
    """Record that a code of ``step`` was accepted; False if one of this step or a later one was
    (a replay). One conditional UPDATE, so two processes cannot both accept the same code."""
    result = session.execute(
        update(models.MfaDevice)
        .where(models.MfaDevice.serial_number == serial_number, models.MfaDevice.last_used_step < step)
        .values(last_used_step=step)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)
