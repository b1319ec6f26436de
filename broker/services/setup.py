"""Idempotent set-up: schema, default account, providers from ``metadata/``, first administrator."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from broker.crypto.box import DecryptionError
from broker.errors import BrokerError
from broker.iam.aws_managed import shipped_policies
from broker.iam.errors import AwsError
from broker.iam.names import name_key
from broker.services.audit.operator import record_operator_event
from broker.services.audit.worker import begin_trail
from broker.services.federation import metadata_refresh
from broker.services.federation.provider_lists import warn_about_unknown_providers
from broker.services.iam import access_keys, inline, providers, users
from broker.services.iam import roles as roles_
from broker.services.runtime import Runtime
from broker.store import Tx, trust_index
from broker.store.auth import first_active_key
from broker.store.iam import accounts
from broker.store.iam import policies as policy_store
from broker.store.iam import providers as provider_store

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
    """Bring the database to the newest schema, and index the trust policies of roles written
    before the trusted-principal index existed (both idempotent)."""
    runtime.db.upgrade()
    begin_trail(runtime)  # the audit trail's signed genesis digest, once per database, before any event
    with runtime.db.transaction() as tx:
        indexed = trust_index.index_unindexed_roles(tx)
    if indexed:
        log.info("indexed the trust policies of %d role(s) written before the index", indexed)
    sync_aws_managed_policies(runtime)


def sync_aws_managed_policies(runtime: Runtime) -> None:
    """Bring the AWS-managed policies to the versions this broker ships (idempotent).

    Like a schema migration, this is the release's data, not an account's change: AWS does not
    put its own policy updates in an account's trail either, so it is logged, not audited."""
    with runtime.db.transaction() as tx:
        changed = policy_store.sync_aws_managed_policies(tx, shipped_policies())
    if changed:
        log.info("brought %d AWS-managed policies to the shipped versions", len(changed))


def _ensure_account(runtime: Runtime, tx: Tx, account_id: str) -> None:
    """The account, created (and audited) if it does not exist yet."""
    if accounts.get_account(tx, account_id) is None:
        accounts.ensure_account(tx, account_id, now=runtime.now())
        record_admin_change(runtime, tx, "CreateAccount", {"accountId": account_id})


def record_keys_created(runtime: Runtime, files: list[str]) -> None:
    """Audit the key files `broker init` generated (their names; never their content)."""
    if files:
        with runtime.db.transaction() as tx:
            record_admin_change(
                runtime, tx, "CreateKeyMaterial", {"certsDir": runtime.settings.certs_dir, "files": files}
            )


def sync_metadata_dir(runtime: Runtime) -> list[str]:
    """Register (or update) a provider per ``metadata/NAME.xml`` (or ``NAME.url``) in the default
    account; then warn about provider settings naming no registered provider (`broker init` and
    `broker serve` run this at start-up)."""
    changed = _sync_metadata_files(runtime)
    with runtime.db.read() as tx:
        registered = provider_store.saml_provider_names(tx)
    warn_about_unknown_providers(runtime.settings, registered)
    return changed


def _sync_metadata_files(runtime: Runtime) -> list[str]:
    directory = Path(runtime.settings.metadata_dir)
    changed: list[str] = []
    if not directory.is_dir():
        return changed
    account_id = runtime.settings.default_account_id
    for path in sorted(directory.glob("*.xml")):
        name = path.stem
        if path.with_suffix(".url").exists():
            raise SetupError(f"{path}: {name}.url names a metadata URL for the same provider: keep one of the two")
        try:
            xml = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError) as exc:
            raise SetupError(f"{path}: cannot be read as UTF-8 text ({exc.__class__.__name__})") from None
        with runtime.db.transaction() as tx:
            _ensure_account(runtime, tx, account_id)
            try:
                if _sync_provider(runtime, tx, account_id, name, xml, f"file:{path.name}", path.name):
                    changed.append(name)
            except AwsError as exc:
                raise SetupError(f"{path}: {exc.message}") from None
    for path in sorted(directory.glob("*.url")):  # metadata fetched from a URL, then kept fresh
        with runtime.db.transaction() as tx:
            _ensure_account(runtime, tx, account_id)
        try:
            if metadata_refresh.sync_url_file(runtime, account_id, path):
                changed.append(path.stem)
        except metadata_refresh.MetadataSourceError as exc:
            raise SetupError(f"{path}: {exc.message}") from None
    return changed


def _sync_provider(
    runtime: Runtime, tx: Tx, account_id: str, name: str, metadata_xml: str, source: str, audited_source: str
) -> bool:
    """Register the provider, or bring its metadata up to date; True if anything changed."""
    existing = provider_store.saml_provider_named(tx, account_id, name_key(name))
    if existing is None:
        providers.create_saml_provider(tx, account_id, name, metadata_xml, None, runtime.now(), source=source)
        record_admin_change(runtime, tx, "CreateSAMLProvider", {"name": name, "source": audited_source})
        return True
    if existing.metadata_xml != metadata_xml:
        providers.update_saml_provider_metadata(tx, existing.arn, metadata_xml)
        record_admin_change(runtime, tx, "UpdateSAMLProvider", {"name": name, "source": audited_source})
        return True
    return False


@dataclass(frozen=True)
class SeedRole:
    """A role a bundled set-up (the demo) wants in the default account, trusting its provider."""

    name: str
    path: str
    description: str
    max_session_duration: int
    trust_policy: str
    access_policy: str
    tags: tuple[tuple[str, str], ...] = ()


def seed_federation(
    runtime: Runtime, *, alias: str, provider_name: str, metadata_xml: str, source: str, roles: Sequence[SeedRole]
) -> None:
    """Idempotently give the default account an alias, a provider and roles trusting it; a role
    that exists keeps its policies, and only its trust policy is brought up to date."""
    account_id = runtime.settings.default_account_id
    with runtime.db.transaction() as tx:
        account = accounts.ensure_account(tx, account_id, now=runtime.now())
        if not account.alias:
            accounts.set_account_alias(tx, account_id, alias)
        _sync_provider(runtime, tx, account_id, provider_name, metadata_xml, source, source)
        for seed in roles:
            role = roles_.find_role(tx, account_id, seed.name)
            if role is None:
                role = roles_.create_role(
                    tx,
                    account_id,
                    name=seed.name,
                    trust_policy=seed.trust_policy,
                    path=seed.path,
                    description=seed.description,
                    max_session_duration=seed.max_session_duration,
                    permissions_boundary=None,
                    tags=list(seed.tags),
                    now=runtime.now(),
                )
                inline.put_inline_policy(tx, role, "access", seed.access_policy)
                record_admin_change(runtime, tx, "CreateRole", {"roleName": seed.name, "path": seed.path})
                record_admin_change(runtime, tx, "PutRolePolicy", {"roleName": seed.name, "policyName": "access"})
            elif role.trust_policy != seed.trust_policy:
                roles_.update_assume_role_policy(tx, account_id, seed.name, seed.trust_policy)
                record_admin_change(runtime, tx, "UpdateAssumeRolePolicy", {"roleName": seed.name})


def check_schema(runtime: Runtime) -> None:
    """Refuse to serve a database `broker init` has not brought to this code's schema."""
    current, head = runtime.db.schema_revisions()
    if current == head:
        return
    if current is None:
        raise SetupError("the database has no broker schema yet: run `broker init` first")
    if current > head:  # revisions are numbered in order
        raise SetupError(f"the database schema ({current}) is newer than this broker's ({head}): upgrade the broker")
    raise SetupError(f"the database schema ({current}) is older than this broker's ({head}): run `broker init`")


def prepare_to_serve(runtime: Runtime) -> None:
    """`broker serve`'s start-up: the schema is current, then the metadata files are registered
    under the set-up lock, so instances starting together take turns and each finds a provider
    the other has just registered instead of failing to create it again."""
    check_schema(runtime)
    with setting_up(runtime):
        sync_metadata_dir(runtime)


@contextmanager
def setting_up(runtime: Runtime) -> Iterator[None]:
    """Set-up steps inside take turns with other instances starting at the same time."""
    with runtime.db.setup_lock():
        yield


def initialise(runtime: Runtime) -> None:
    upgrade_schema(runtime)
    with runtime.db.transaction() as tx:
        if accounts.get_account(tx, runtime.settings.default_account_id) is None:
            accounts.ensure_account(
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
        user = users.find_user(tx, account_id, user_name)
        if user is None:
            user = users.create_user(tx, account_id, user_name, "/", now)
            inline.put_inline_policy(tx, user, "AdministratorAccess", inline.ADMINISTRATOR_ACCESS)
            record_admin_change(runtime, tx, "CreateUser", {"userName": user_name})
            record_admin_change(
                runtime, tx, "PutUserPolicy", {"userName": user_name, "policyName": "AdministratorAccess"}
            )
        active = first_active_key(tx, user.user_id)
        if active is None:
            key, secret = access_keys.create_access_key(tx, user, runtime.box, now)
            key_id = key.access_key_id
            record_admin_change(runtime, tx, "CreateAccessKey", {"userName": user_name, "accessKeyId": key_id})
        else:
            key_id = active.access_key_id
            try:
                secret = runtime.box.open(active.secret_sealed, key_id)
            except DecryptionError:
                raise SetupError(
                    f"cannot decrypt {user_name}'s access key {key_id} with the keys in {runtime.settings.certs_dir}/: "
                    "this instance's keys are not the ones the database was set up with "
                    "(mount the key files of the instance that ran `broker init`)"
                ) from None
        return AdminCredentials(account_id, user.name, key_id, secret)
