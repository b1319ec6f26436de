"""Idempotent set-up: schema, default account, providers from ``metadata/``, first administrator."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from broker.iam.errors import AwsError
from broker.iam.names import name_key
from broker.services import iam_admin
from broker.services.audit import Actor, record_event
from broker.services.runtime import Runtime
from broker.store import models
from broker.store import repositories as repo

log = logging.getLogger("broker.setup")
ADMIN_USER = "admin"


class SetupError(Exception):
    """Set-up cannot proceed; the message names the file or setting at fault."""


CLI_ACTOR = Actor(type="Root", principal_id="broker-cli", user_name="broker-cli")


def record_admin_change(runtime: Runtime, session: Session, name: str, parameters: dict[str, object]) -> None:
    """Audit a change the `broker` command makes (``eventSource`` broker.cli), in its transaction."""
    record_event(
        session,
        event_name=name,
        event_source="broker.cli",
        actor=CLI_ACTOR,
        now=runtime.now(),
        region=runtime.settings.region,
        source_ip=None,
        user_agent="broker-cli",
        request_id="cli",
        request_parameters=parameters,
        event_type="AwsServiceEvent",
        recipient_account_id=runtime.settings.default_account_id,
    )


def _ensure_account(runtime: Runtime, session: Session, account_id: str) -> None:
    """The account, created (and audited) if it does not exist yet."""
    if repo.get_account(session, account_id) is None:
        repo.ensure_account(session, account_id, now=runtime.now())
        record_admin_change(runtime, session, "CreateAccount", {"accountId": account_id})


def record_keys_created(runtime: Runtime, files: list[str]) -> None:
    """Audit the key files `broker init` generated (their names; never their content)."""
    if files:
        with runtime.db.transaction() as session:
            record_admin_change(
                runtime, session, "CreateKeyMaterial", {"certsDir": runtime.settings.certs_dir, "files": files}
            )


def sync_metadata_dir(runtime: Runtime) -> list[str]:
    """Register (or update) a provider per ``metadata/NAME.xml`` in the default account."""
    directory = Path(runtime.settings.metadata_dir)
    changed: list[str] = []
    if not directory.is_dir():
        return changed
    account_id = runtime.settings.default_account_id
    for path in sorted(directory.glob("*.xml")):
        name = path.stem
        try:
            xml = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError) as exc:
            raise SetupError(f"{path}: cannot be read as UTF-8 text ({exc.__class__.__name__})") from None
        with runtime.db.transaction() as session:
            _ensure_account(runtime, session, account_id)
            existing = repo.provider_by_name(session, account_id, name_key(name))
            try:
                if existing is None:
                    iam_admin.create_saml_provider(
                        session, account_id, name, xml, None, runtime.now(), source=f"file:{path.name}"
                    )
                    record_admin_change(runtime, session, "CreateSAMLProvider", {"name": name, "source": path.name})
                    changed.append(name)
                elif existing.metadata_xml != xml:
                    iam_admin.update_saml_provider_metadata(session, existing, xml)
                    record_admin_change(runtime, session, "UpdateSAMLProvider", {"name": name, "source": path.name})
                    changed.append(name)
            except AwsError as exc:
                raise SetupError(f"{path}: {exc.message}") from None
    return changed


def initialise(runtime: Runtime) -> None:
    runtime.db.upgrade()
    with runtime.db.transaction() as session:
        if repo.get_account(session, runtime.settings.default_account_id) is None:
            repo.ensure_account(
                session,
                runtime.settings.default_account_id,
                alias=runtime.settings.default_account_alias or None,
                now=runtime.now(),
            )
            record_admin_change(runtime, session, "CreateAccount", {"accountId": runtime.settings.default_account_id})
    sync_metadata_dir(runtime)


@dataclass(frozen=True)
class AdminCredentials:
    account_id: str
    user_name: str
    access_key_id: str
    secret_access_key: str

    def to_json(self) -> str:
        return json.dumps(
            {
                "AccountId": self.account_id,
                "UserName": self.user_name,
                "AccessKeyId": self.access_key_id,
                "SecretAccessKey": self.secret_access_key,
            }
        )


def bootstrap_admin(runtime: Runtime, user_name: str = ADMIN_USER) -> AdminCredentials:
    """The management account's administrator and an active key; re-running returns the same key."""
    account_id = runtime.settings.default_account_id
    now = runtime.now()
    with runtime.db.transaction() as session:
        _ensure_account(runtime, session, account_id)
        user = repo.user_by_name(session, account_id, name_key(user_name))
        if user is None:
            user = iam_admin.create_user(session, account_id, user_name, "/", now)
            iam_admin.put_user_policy(session, user, "AdministratorAccess", iam_admin.ADMINISTRATOR_ACCESS)
            record_admin_change(runtime, session, "CreateUser", {"userName": user_name})
            record_admin_change(
                runtime, session, "PutUserPolicy", {"userName": user_name, "policyName": "AdministratorAccess"}
            )
        key = session.scalars(
            select(models.AccessKey)
            .where(models.AccessKey.user_pk == user.id, models.AccessKey.status == "Active")
            .order_by(models.AccessKey.created_at)
        ).first()
        if key is None:
            key, secret = iam_admin.create_access_key(session, user, runtime.box, now)
            record_admin_change(
                runtime, session, "CreateAccessKey", {"userName": user_name, "accessKeyId": key.access_key_id}
            )
        else:
            secret = runtime.box.open(key.secret_sealed, key.access_key_id)
        return AdminCredentials(account_id, user.name, key.access_key_id, secret)
