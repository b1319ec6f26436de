"""Organizations handshakes, and the membership changes that end or follow one (leaving, being
removed, closing an account)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from sqlalchemy import delete, select, update

from broker.iam.handshakes import Handshake
from broker.store import models
from broker.store.db import Tx

_ROW = models.OrganizationHandshake


def _value(row: models.OrganizationHandshake, organization: models.Organization) -> Handshake:
    return Handshake(
        id=row.id,
        organization_id=row.organization_id,
        management_account_id=organization.management_account_id,
        feature_set=organization.feature_set,
        action=row.action,
        target_type=row.target_type,
        target=row.target,
        target_account_id=row.target_account_id,
        state=row.state,
        notes=row.notes,
        requested_at=row.requested_at,
        expires_at=row.expires_at,
        tags=dict(row.tags or {}),
    )


def _handshakes(tx: Tx, *where: object) -> list[Handshake]:
    query = (
        select(_ROW, models.Organization)
        .join(models.Organization, models.Organization.id == _ROW.organization_id)
        .where(*where)  # type: ignore[arg-type]
        .order_by(_ROW.requested_at, _ROW.id)
    )
    return [_value(row, organization) for row, organization in tx.execute(query)]


def add(
    tx: Tx,
    *,
    handshake_id: str,
    organization_id: str,
    target_type: str,
    target: str,
    target_account_id: str,
    notes: str | None,
    tags: Mapping[str, str],
    now: dt.datetime,
    expires_at: dt.datetime,
    action: str,
) -> None:
    tx.add(
        _ROW(
            id=handshake_id,
            organization_id=organization_id,
            action=action,
            target_type=target_type,
            target=target,
            target_account_id=target_account_id,
            state="OPEN",
            notes=notes,
            requested_at=now,
            expires_at=expires_at,
            tags=dict(tags),
        )
    )
    tx.flush()


def handshake(tx: Tx, handshake_id: str) -> Handshake | None:
    found = _handshakes(tx, _ROW.id == handshake_id)
    return found[0] if found else None


def for_organization(tx: Tx, organization_id: str) -> list[Handshake]:
    return _handshakes(tx, _ROW.organization_id == organization_id)


def for_account(tx: Tx, account_id: str) -> list[Handshake]:
    return _handshakes(tx, _ROW.target_account_id == account_id)


def set_state(tx: Tx, handshake_id: str, state: str) -> None:
    tx.execute(update(_ROW).where(_ROW.id == handshake_id).values(state=state))


def remove_member(tx: Tx, organization_id: str, account_id: str) -> None:
    """The account leaves: its membership and the policies attached to it directly go."""
    attachments = models.OrganizationPolicyAttachment
    tx.execute(
        delete(attachments).where(attachments.organization_id == organization_id, attachments.target_id == account_id)
    )
    tx.execute(delete(models.OrganizationAccount).where(models.OrganizationAccount.account_id == account_id))


def account_with_email(tx: Tx, email: str) -> str | None:
    return tx.scalar(select(models.Account.id).where(models.Account.email == email))


def account_exists(tx: Tx, account_id: str) -> bool:
    return tx.get(models.Account, account_id) is not None


def closed_at(tx: Tx, account_id: str) -> dt.datetime | None:
    account = tx.get(models.Account, account_id)
    return account.closed_at if account is not None else None


def close_account(tx: Tx, account_id: str, now: dt.datetime) -> None:
    tx.execute(update(models.Account).where(models.Account.id == account_id).values(closed_at=now))
