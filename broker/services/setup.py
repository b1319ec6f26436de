"""Idempotent set-up: schema, default account, providers from ``metadata/``, first administrator."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from broker.errors import BrokerError
from broker.iam.errors import AwsError
from broker.iam.names import name_key
from broker.services import iam_admin
from broker.services.audit.operator import record_operator_event
from broker.services.runtime import Runtime
from broker.store import Tx
from broker.store import repositories as repo
from broker.store.setup import first_active_key

log = logging.getLogger("broker.setup")
ADMIN_USER = "admin"


class SetupError(BrokerError):
    """Set-up cannot proceed; the message names the file or setting at fault."""

    code = "SetupError"
    status = 500


def record_admin_change(runtime: Runtime, tx: Tx, name: str, parameters: dict[str, object]) -> None:
    """Audit a change the `broker` command makes (``eventSource`` broker.cli), in its transaction."""
    record_operator_event(runtime, tx, name, parameters, event_source="broker.cli", request_id="cli")


def upgrade_schema(runtime: Runtime) -> None:
    """Bring the database to the newest schema (idempotent)."""
    runtime.db.upgrade()


def _ensure_account(runtime: Runtime, tx: Tx, account_id: str) -> None:
    """The account, created (and audited) if it does not exist yet."""
    if repo.get_account(tx, account_id) is None:
        repo.ensure_account(tx, account_id, now=runtime.now())
        record_admin_change(runtime, tx, "CreateAccount", {"accountId": account_id})


def record_keys_created(runtime: Runtime, files: list[str]) -> None:
    """Audit the key files `broker init` generated (their names; never their content)."""
    if files:
        with runtime.db.transaction() as tx:
            record_admin_change(
                runtime, tx, "CreateKeyMaterial", {"certsDir": runtime.settings.certs_dir, "files": files}
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
        with runtime.db.transaction() as tx:
            _ensure_account(runtime, tx, account_id)
            existing = repo.provider_by_name(tx, account_id, name_key(name))
            try:
                if existing is None:
                    iam_admin.create_saml_provider(
                        tx, account_id, name, xml, None, runtime.now(), source=f"file:{path.name}"
                    )
                    record_admin_change(runtime, tx, "CreateSAMLProvider", {"name": name, "source": path.name})
                    changed.append(name)
                elif existing.metadata_xml != xml:
                    iam_admin.update_saml_provider_metadata(tx, existing, xml)
                    record_admin_change(runtime, tx, "UpdateSAMLProvider", {"name": name, "source": path.name})
                    changed.append(name)
            except AwsError as exc:
                raise SetupError(f"{path}: {exc.message}") from None
    return changed


def initialise(runtime: Runtime) -> None:
    upgrade_schema(runtime)
    with runtime.db.transaction() as tx:
        if repo.get_account(tx, runtime.settings.default_account_id) is None:
            repo.ensure_account(
                tx,
                runtime.settings.default_account_id,
                alias=runtime.settings.default_account_alias or None,
                now=runtime.now(),
            )
            record_admin_change(runtime, tx, "CreateAccount", {"accountId": runtime.settings.default_account_id})
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
    with runtime.db.transaction() as tx:
        _ensure_account(runtime, tx, account_id)
        user = repo.user_by_name(tx, account_id, name_key(user_name))
        if user is None:
            user = iam_admin.create_user(tx, account_id, user_name, "/", now)
            iam_admin.put_user_policy(tx, user, "AdministratorAccess", iam_admin.ADMINISTRATOR_ACCESS)
            record_admin_change(runtime, tx, "CreateUser", {"userName": user_name})
            record_admin_change(
                runtime, tx, "PutUserPolicy", {"userName": user_name, "policyName": "AdministratorAccess"}
            )
        key = first_active_key(tx, user.id)
        if key is None:
            key, secret = iam_admin.create_access_key(tx, user, runtime.box, now)
            record_admin_change(
                runtime, tx, "CreateAccessKey", {"userName": user_name, "accessKeyId": key.access_key_id}
            )
        else:
            secret = runtime.box.open(key.secret_sealed, key.access_key_id)
        return AdminCredentials(account_id, user.name, key.access_key_id, secret)
