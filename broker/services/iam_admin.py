"""IAM administration use cases (the part of IAM federation needs first: providers and roles)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from broker.iam import arn as arns
from broker.iam import limits
from broker.iam.errors import AwsError
from broker.iam.ids import new_access_key_id, new_secret_access_key, new_unique_id
from broker.iam.names import (
    name_key,
    validate_max_session_duration,
    validate_path,
    validate_policy_name,
    validate_role_description,
    validate_role_name,
    validate_saml_provider_name,
    validate_tags,
    validate_user_name,
)
from broker.policy import MalformedPolicyDocument, PolicyKind, PolicyTooLarge, parse_policy
from broker.saml.errors import MetadataError
from broker.saml.metadata import parse_idp_metadata
from broker.store import models
from broker.store import repositories as repo


def check_policy(document: str, kind: PolicyKind, what: str = "policy") -> None:
    try:
        parse_policy(document, kind, policy_id=what)
    except PolicyTooLarge as exc:
        raise AwsError("LimitExceeded", f"Cannot exceed quota for PolicySize: {exc}") from None
    except MalformedPolicyDocument as exc:
        raise AwsError("MalformedPolicyDocument", str(exc)) from None


def decode_policy_parameter(document: str) -> str:
    """The AWS CLI and SDKs send documents as-is; some tools URL-encode them. Accept both."""
    stripped = document.strip()
    if stripped.startswith("%7B") or stripped.startswith("%7b"):
        return unquote(stripped)
    return document


@dataclass(frozen=True)
class ProviderView:
    arn: str
    metadata_xml: str
    create_date: dt.datetime
    valid_until: dt.datetime | None
    tags: dict[str, str]


def create_saml_provider(
    session: Session,
    account_id: str,
    name: str,
    metadata_xml: str,
    tags: list[tuple[str, str]] | None,
    now: dt.datetime,
    source: str = "api",
    options: dict[str, Any] | None = None,
) -> models.SamlProvider:
    validate_saml_provider_name(name)
    if not 1000 <= len(metadata_xml) <= 10_000_000:
        raise AwsError(
            "ValidationError",
            "1 validation error detected: Value at 'sAMLMetadataDocument' failed to "
            "satisfy constraint: Member must have length greater than or equal to 1000",
        )
    try:
        metadata = parse_idp_metadata(metadata_xml)
    except MetadataError as exc:
        raise AwsError("InvalidInput", f"Could not parse metadata: {exc}") from None
    tag_map = validate_tags(tags or [])
    if repo.provider_by_name(session, account_id, name_key(name)) is not None:
        raise AwsError("EntityAlreadyExists", f"SAMLProvider {name} already exists.")
    provider = models.SamlProvider(
        account_id=account_id,
        name=name,
        name_key=name_key(name),
        arn=arns.saml_provider_arn(account_id, name),
        entity_id=metadata.entity_id,
        metadata_xml=metadata_xml,
        valid_until=metadata.valid_until,
        created_at=now,
        tags=tag_map,
        options=options or {},
        source=source,
    )
    session.add(provider)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise AwsError("EntityAlreadyExists", f"SAMLProvider {name} already exists.") from None
    return provider


def update_saml_provider_metadata(session: Session, provider: models.SamlProvider, metadata_xml: str) -> None:
    try:
        metadata = parse_idp_metadata(metadata_xml)
    except MetadataError as exc:
        raise AwsError("InvalidInput", f"Could not parse metadata: {exc}") from None
    provider.metadata_xml = metadata_xml
    provider.entity_id = metadata.entity_id
    provider.valid_until = metadata.valid_until


def get_saml_provider(session: Session, account_id: str, provider_arn: str) -> models.SamlProvider:
    try:
        owner, _name = arns.parse_saml_provider_arn(provider_arn)
    except arns.InvalidArn as exc:
        raise AwsError("InvalidInput", f"Invalid SAML provider ARN: {exc}") from None
    provider = repo.provider_by_arn(session, provider_arn)
    if provider is None or owner != account_id:
        raise AwsError("NoSuchEntity", f"Manifest not found for arn {provider_arn}")
    return provider


def create_role(
    session: Session,
    account_id: str,
    *,
    name: str,
    trust_policy: str,
    path: str | None,
    description: str | None,
    max_session_duration: int | None,
    permissions_boundary: str | None,
    tags: list[tuple[str, str]] | None,
    now: dt.datetime,
) -> models.Role:
    validate_role_name(name)
    path = validate_path(path or "/")
    description = validate_role_description(description or "")
    duration = validate_max_session_duration(
        max_session_duration if max_session_duration is not None else limits.MAX_SESSION_DURATION_DEFAULT
    )
    trust_policy = decode_policy_parameter(trust_policy)
    check_policy(trust_policy, PolicyKind.TRUST, "AssumeRolePolicyDocument")
    tag_map = validate_tags(tags or [])
    if permissions_boundary is not None:
        try:
            arns.parse_policy_arn(permissions_boundary)
        except arns.InvalidArn:
            raise AwsError("InvalidInput", f"ARN {permissions_boundary} is not valid.") from None
    if repo.role_by_name(session, account_id, name_key(name)) is not None:
        raise AwsError("EntityAlreadyExists", f"Role with name {name} already exists.")
    role = models.Role(
        account_id=account_id,
        name=name,
        name_key=name_key(name),
        path=path,
        role_id=new_unique_id("AROA"),
        arn=arns.role_arn(account_id, name, path),
        trust_policy=trust_policy,
        description=description,
        max_session_duration=duration,
        permissions_boundary_arn=permissions_boundary,
        created_at=now,
        tags=tag_map,
    )
    session.add(role)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise AwsError("EntityAlreadyExists", f"Role with name {name} already exists.") from None
    return role


def get_role(session: Session, account_id: str, name: str) -> models.Role:
    validate_role_name(name)
    role = repo.role_by_name(session, account_id, name_key(name))
    if role is None:
        raise AwsError("NoSuchEntity", f"The role with name {name} cannot be found.")
    return role


def update_assume_role_policy(session: Session, account_id: str, name: str, document: str) -> models.Role:
    role = get_role(session, account_id, name)
    document = decode_policy_parameter(document)
    check_policy(document, PolicyKind.TRUST, "AssumeRolePolicyDocument")
    role.trust_policy = document
    return role


def put_role_policy(session: Session, account_id: str, role_name: str, policy_name: str, document: str) -> None:
    role = get_role(session, account_id, role_name)
    validate_policy_name(policy_name)
    document = decode_policy_parameter(document)
    check_policy(document, PolicyKind.INLINE_ROLE, policy_name)
    others = sum(limits.policy_size(p.document) for p in role.inline_policies if p.name != policy_name)
    if others + limits.policy_size(document) > limits.INLINE_POLICIES_ROLE_SIZE:
        raise AwsError(
            "LimitExceeded",
            f"Maximum policy size of {limits.INLINE_POLICIES_ROLE_SIZE} bytes exceeded for role {role.name}",
        )
    for existing in role.inline_policies:
        if existing.name == policy_name:
            existing.document = document
            return
    role.inline_policies.append(models.RoleInlinePolicy(name=policy_name, document=document))


def role_view(role: models.Role) -> dict[str, Any]:
    """The IAM ``Role`` structure, in AWS's element order."""
    view: dict[str, Any] = {
        "Path": role.path,
        "RoleName": role.name,
        "RoleId": role.role_id,
        "Arn": role.arn,
        "CreateDate": role.created_at,
        "AssumeRolePolicyDocument": role.trust_policy,
    }
    if role.description:
        view["Description"] = role.description
    view["MaxSessionDuration"] = role.max_session_duration
    if role.permissions_boundary_arn:
        view["PermissionsBoundary"] = {
            "PermissionsBoundaryType": "Policy",
            "PermissionsBoundaryArn": role.permissions_boundary_arn,
        }
    if role.tags:
        view["Tags"] = [{"Key": k, "Value": v} for k, v in role.tags.items()]
    last_used: dict[str, Any] = {}
    if role.last_used_at:
        last_used = {"LastUsedDate": role.last_used_at, "Region": role.last_used_region}
    view["RoleLastUsed"] = last_used
    return view


def compact_json(document: str) -> str:
    return json.dumps(json.loads(document), separators=(",", ":"))


# --- users and access keys (what bootstrap-admin needs; the IAM API issue extends these) -----------

ADMINISTRATOR_ACCESS = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)


def create_user(
    session: Session,
    account_id: str,
    name: str,
    path: str | None,
    now: dt.datetime,
    tags: list[tuple[str, str]] | None = None,
) -> models.User:
    validate_user_name(name)
    path = validate_path(path or "/")
    if repo.user_by_name(session, account_id, name_key(name)) is not None:
        raise AwsError("EntityAlreadyExists", f"User with name {name} already exists.")
    user = models.User(
        account_id=account_id,
        name=name,
        name_key=name_key(name),
        path=path,
        user_id=new_unique_id("AIDA"),
        arn=arns.user_arn(account_id, name, path),
        created_at=now,
        tags=validate_tags(tags or []),
    )
    session.add(user)
    session.flush()
    return user


def put_user_policy(session: Session, user: models.User, policy_name: str, document: str) -> None:
    validate_policy_name(policy_name)
    check_policy(document, PolicyKind.INLINE_USER, policy_name)
    for existing in user.inline_policies:
        if existing.name == policy_name:
            existing.document = document
            return
    user.inline_policies.append(models.UserInlinePolicy(name=policy_name, document=document))


def create_access_key(session: Session, user: models.User, box: Any, now: dt.datetime) -> tuple[models.AccessKey, str]:
    active = session.query(models.AccessKey).filter(models.AccessKey.user_pk == user.id).count()
    if active >= limits.ACCESS_KEYS_PER_USER:
        raise AwsError("LimitExceeded", f"Cannot exceed quota for AccessKeysPerUser: {limits.ACCESS_KEYS_PER_USER}")
    key_id = new_access_key_id(temporary=False)
    secret = new_secret_access_key()
    key = models.AccessKey(
        access_key_id=key_id, user_pk=user.id, secret_sealed=box.seal(secret, key_id), status="Active", created_at=now
    )
    session.add(key)
    session.flush()
    return key, secret
