"""IAM users."""

from __future__ import annotations

import datetime as dt
from typing import Any

from broker.iam.entities import User
from broker.iam.names import name_key, validate_tags
from broker.services.iam._common import validate_path_prefix
from broker.services.iam._kinds import USER
from broker.services.iam.paging import Entry
from broker.services.iam.policies import boundary_policy
from broker.services.iam.views import user_view
from broker.services.trust import rebind_principal
from broker.store import Tx
from broker.store.iam import named


def create_user(
    tx: Tx,
    account_id: str,
    name: str,
    path: str | None,
    now: dt.datetime,
    tags: list[tuple[str, str]] | None = None,
    permissions_boundary: str | None = None,
) -> User:
    path = USER.validated(name, path)
    tag_map = validate_tags(tags or [])
    if permissions_boundary is not None:
        permissions_boundary = boundary_policy(tx, account_id, permissions_boundary).arn
    return USER.create(
        tx, account_id, name, path, create_date=now, tags=tag_map, permissions_boundary_arn=permissions_boundary
    )


def find_user(tx: Tx, account_id: str, name: str) -> User | None:
    return USER.find(tx, account_id, name)


def get_user(tx: Tx, account_id: str, name: str) -> User:
    return USER.get(tx, account_id, name)


def user_name_of(tx: Tx, account_id: str, user_id: str) -> str | None:
    """The name of the account's user with ``user_id`` (a caller's), if it still exists."""
    user = named.user_with_id_in(tx, account_id, user_id)
    return user.name if user is not None else None


def list_users(tx: Tx, account_id: str, path_prefix: str | None) -> list[Entry[dict[str, Any]]]:
    found = named.USERS.listing(tx, (account_id,), validate_path_prefix(path_prefix))
    return [Entry(name_key(user.name), user_view(user, listing=True)) for user in found]


def delete_user(tx: Tx, account_id: str, name: str) -> None:
    """Delete the user; trust policies naming its ARN then name its unique id, which a new user
    of the same name does not have (AWS does the same)."""
    user = USER.get(tx, account_id, name)
    USER.delete(tx, account_id, name, named.user_dependents)
    rebind_principal(tx, user.arn, user.user_id)


def update_user(tx: Tx, account_id: str, name: str, new_path: str | None, new_name: str | None) -> User:
    """Rename or move the user; trust policies that named it by its old ARN follow it to the new one
    (so a new user taking the old name is not trusted in its place)."""
    user = USER.get(tx, account_id, name)
    renamed = USER.rename(tx, account_id, name, new_path, new_name)
    if renamed.arn != user.arn:
        rebind_principal(tx, user.arn, renamed.arn)
    return renamed
