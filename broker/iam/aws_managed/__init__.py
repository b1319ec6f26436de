"""The AWS-managed policies the broker ships (``arn:aws:iam::aws:policy/...``), one JSON data file each.

Each file holds what IAM's GetPolicy and GetPolicyVersion show of the policy: ``PolicyName``,
``Path``, ``PolicyId``, ``Description``, ``DefaultVersionId``, ``CreateDate``, ``UpdateDate`` and
the default version's ``Document``, as AWS publishes it. Files live under their policy's path
(``job-function/Billing.json`` is ``arn:aws:iam::aws:policy/job-function/Billing``). Set-up writes
them into every database (:func:`broker.store.iam.policies.sync_aws_managed_policies`).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable

from broker.iam import limits
from broker.iam.arn import aws_managed_policy_arn

_FIELDS = frozenset(
    {"PolicyName", "Path", "PolicyId", "Description", "DefaultVersionId", "CreateDate", "UpdateDate", "Document"}
)


@dataclass(frozen=True, slots=True)
class ShippedPolicy:
    name: str
    path: str
    policy_id: str
    description: str
    version_id: str
    create_date: dt.datetime
    update_date: dt.datetime
    # The document as IAM stores it: pretty-printed, or compact when that would exceed the text cap.
    document: str

    @property
    def arn(self) -> str:
        return aws_managed_policy_arn(self.name, self.path)

    @property
    def version_number(self) -> int:
        return int(self.version_id.removeprefix("v"))


def _document_text(document: object) -> str:
    pretty = json.dumps(document, indent=4)
    if len(pretty) <= limits.POLICY_DOCUMENT_MAX:
        return pretty
    return json.dumps(document, separators=(",", ":"))


def _read(source: Traversable) -> ShippedPolicy:
    data = json.loads(source.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or set(data) != _FIELDS:
        raise ValueError(f"{source.name}: an AWS-managed policy file has exactly the fields {sorted(_FIELDS)}")
    return ShippedPolicy(
        name=data["PolicyName"],
        path=data["Path"],
        policy_id=data["PolicyId"],
        description=data["Description"],
        version_id=data["DefaultVersionId"],
        create_date=dt.datetime.fromisoformat(data["CreateDate"]),
        update_date=dt.datetime.fromisoformat(data["UpdateDate"]),
        document=_document_text(data["Document"]),
    )


def _files(directory: Traversable) -> list[Traversable]:
    found: list[Traversable] = []
    for entry in directory.iterdir():
        if entry.is_dir():
            found += _files(entry)
        elif entry.name.endswith(".json"):
            found.append(entry)
    return found


@lru_cache(maxsize=1)
def shipped_policies() -> tuple[ShippedPolicy, ...]:
    """Every shipped policy, by ARN."""
    policies = [_read(source) for source in _files(resources.files(__name__))]
    return tuple(sorted(policies, key=lambda policy: policy.arn))
