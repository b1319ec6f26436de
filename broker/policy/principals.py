"""Who is calling (:class:`Principal`) and the ``Principal`` element that names them.

A caller is seen as a chain of identities: a role session is the session ARN,
its role ARN and its account; an IAM user is its ARN and its account. A
``Principal`` element matches when it names any link of the chain, and how
specific the link is decides what the grant is worth (see :class:`Grant`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum

from broker.iam.ids import is_unique_id
from broker.policy.errors import MalformedPolicyDocument

_ACCOUNT_ID = re.compile(r"\d{12}")
_PARTITION = r"aws(?:-[a-z]+)*"
_AWS_PRINCIPAL_ARN = re.compile(
    rf"arn:{_PARTITION}:(?:iam::(?P<iam_account>\d{{12}}):(?P<iam>root|user/\S+|role/\S+)"
    rf"|sts::(?P<sts_account>\d{{12}}):(?P<sts>assumed-role/[^/\s]+/\S+|federated-user/\S+))"
)
_FEDERATED_ARN = re.compile(rf"arn:{_PARTITION}:iam::\d{{12}}:(?:saml-provider|oidc-provider)/\S+")
_HOST_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
_CANONICAL_USER = re.compile(r"[A-Za-z0-9]+")

PRINCIPAL_TYPES = ("AWS", "Federated", "Service", "CanonicalUser")


class Grant(IntEnum):
    """How specifically a resource policy names the caller.

    Same-account resource policies grant on their own only when they name the
    caller itself; naming a role binds its sessions to their boundary and
    session policies; naming the account merely delegates to identity policies.
    """

    ACCOUNT = 1
    ROLE = 2
    DIRECT = 3


def account_of(arn: str | None) -> str | None:
    """Account id field of an ARN, if it has one."""
    if arn is None or not arn.startswith("arn:"):
        return None
    parts = arn.split(":", 5)
    if len(parts) < 6 or not _ACCOUNT_ID.fullmatch(parts[4]):
        return None
    return parts[4]


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of a request.

    ``account`` is derived from ``arn`` (or ``role_arn``) when not given; it is
    the AWS account whose IAM identity makes the call, so leave it unset for a
    SAML provider or service principal. For a role session pass the session ARN
    as ``arn``, the role's ARN as ``role_arn`` and ``is_session=True``.
    """

    arn: str | None = None
    account: str | None = None
    federated: str | None = None
    service: str | None = None
    role_arn: str | None = None
    is_session: bool = False
    # Identities of the chain, most specific last; computed once.
    chain: frozenset[str] = field(init=False, repr=False, compare=False, default=frozenset())

    def __post_init__(self) -> None:
        if self.account is None:
            object.__setattr__(self, "account", account_of(self.arn) or account_of(self.role_arn))
        links = {f"account:{self.account}"} if self.account else set()
        for name in (self.arn, self.role_arn):
            if name:
                links.add(f"arn:{name}")
        if self.federated:
            links.add(f"federated:{self.federated}")
        if self.service:
            links.add(f"service:{self.service.lower()}")
        object.__setattr__(self, "chain", frozenset(links))

    @property
    def is_anonymous(self) -> bool:
        return not self.chain


@dataclass(frozen=True, slots=True)
class PrincipalSpec:
    """A validated ``Principal``/``NotPrincipal`` element."""

    everyone: bool
    aws: tuple[str, ...] = ()
    federated: tuple[str, ...] = ()
    service: tuple[str, ...] = ()
    canonical_user: tuple[str, ...] = ()
    # Chain links this element names, in the format of Principal.chain.
    links: frozenset[str] = frozenset()
    # Links that count as naming a role (its sessions stay bound, see Grant).
    role_links: frozenset[str] = frozenset()

    def grant_for(self, principal: Principal) -> Grant | None:
        """How this element names ``principal``, or None when it does not."""
        if self.everyone:
            return Grant.DIRECT
        named = self.links & principal.chain
        if not named:
            return None
        if principal.account and named == {f"account:{principal.account}"}:
            return Grant.ACCOUNT
        specific = named - {f"account:{principal.account}"}
        if specific <= self.role_links:
            return Grant.ROLE
        return Grant.DIRECT

    def excludes(self, principal: Principal) -> bool:
        """``NotPrincipal`` semantics: only a caller whose whole chain is listed
        is left out, which is why AWS asks to list account, role and session."""
        if self.everyone:
            return True
        return bool(principal.chain) and principal.chain <= self.links


def _string_list(raw: object, path: str) -> tuple[str, ...]:
    if isinstance(raw, str):
        return (raw,)
    if isinstance(raw, list) and raw and all(isinstance(item, str) for item in raw):
        return tuple(raw)
    raise MalformedPolicyDocument(f"{path}: expected a string or a non-empty list of strings")


def parse_principal(raw: object, path: str, duplicates: Mapping[int, list[str]]) -> PrincipalSpec:
    """Validate a Principal/NotPrincipal element (``duplicates``: see _json)."""
    if raw == "*":
        return PrincipalSpec(everyone=True)
    if not isinstance(raw, dict):
        raise MalformedPolicyDocument(f'{path}: expected "*" or an object such as {{"AWS": [...]}}')
    duplicated = duplicates.get(id(raw))
    if duplicated:
        raise MalformedPolicyDocument(f"{path}: duplicate principal type {duplicated[0]!r}")
    if not raw:
        raise MalformedPolicyDocument(f"{path}: names no principal")
    named: dict[str, tuple[str, ...]] = {}
    links: set[str] = set()
    role_links: set[str] = set()
    everyone = False
    for principal_type, values in raw.items():
        where = f"{path}.{principal_type}"
        if principal_type not in PRINCIPAL_TYPES:
            raise MalformedPolicyDocument(
                f"{where}: unknown principal type; expected one of {', '.join(PRINCIPAL_TYPES)}"
            )
        names = _string_list(values, where)
        named[principal_type] = names
        for name in names:
            if principal_type == "AWS":
                if name == "*":
                    # AWS documents {"AWS": "*"} as equivalent to "*".
                    everyone = True
                    continue
                link, is_role = _aws_link(name, where)
                links.add(link)
                if is_role:
                    role_links.add(link)
            elif principal_type == "Federated":
                if not (_FEDERATED_ARN.fullmatch(name) or _HOST_NAME.fullmatch(name)):
                    raise MalformedPolicyDocument(f"{where}: invalid federated principal {name!r}")
                links.add(f"federated:{name}")
            elif principal_type == "Service":
                if not _HOST_NAME.fullmatch(name):
                    raise MalformedPolicyDocument(f"{where}: invalid service principal {name!r}")
                links.add(f"service:{name.lower()}")
            elif not _CANONICAL_USER.fullmatch(name):
                raise MalformedPolicyDocument(f"{where}: invalid canonical user id {name!r}")
            else:
                links.add(f"canonical:{name}")
    return PrincipalSpec(
        everyone=everyone,
        aws=named.get("AWS", ()),
        federated=named.get("Federated", ()),
        service=named.get("Service", ()),
        canonical_user=named.get("CanonicalUser", ()),
        links=frozenset(links),
        role_links=frozenset(role_links),
    )


def _aws_link(name: str, where: str) -> tuple[str, bool]:
    if _ACCOUNT_ID.fullmatch(name):
        return f"account:{name}", False
    if is_unique_id(name, "AIDA") or is_unique_id(name, "AROA"):
        # A deleted user or role, shown by its unique id as AWS shows it: no caller's chain
        # holds a unique id, so it names no one (a new entity of the same name included).
        return f"deleted:{name}", False
    match = _AWS_PRINCIPAL_ARN.fullmatch(name)
    if match is None or "*" in name or "?" in name:
        raise MalformedPolicyDocument(
            f"{where}: invalid principal {name!r}; expected an account id, an IAM user or role ARN, "
            'a role session ARN or "*" (wildcards are not allowed inside principal ARNs)'
        )
    if match.group("iam") == "root":
        return f"account:{match.group('iam_account')}", False
    is_role = (match.group("iam") or "").startswith("role/")
    return f"arn:{name}", is_role
