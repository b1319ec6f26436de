"""An instance profile: a container for one role that EC2 hands to an instance (IAM's ``InstanceProfile``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from broker.iam.entities import Role


@dataclass(frozen=True, slots=True, kw_only=True)
class InstanceProfile:
    account_id: str
    name: str
    path: str
    instance_profile_id: str
    arn: str
    create_date: datetime
    tags: Mapping[str, str] = field(default_factory=dict, hash=False)
    # The role it holds (AWS allows at most one), in a list as AWS shows it.
    roles: tuple[Role, ...] = ()
