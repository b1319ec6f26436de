"""Imports every module of actions, so each registers its handlers."""

from broker.services.api import cloudtrail, organizations, sts
from broker.services.api.iam import (
    account,
    groups,
    inline,
    keys,
    mfa,
    policies,
    providers,
    roles,
    simulate,
    users,
)

__all__ = [
    "account",
    "cloudtrail",
    "groups",
    "inline",
    "keys",
    "mfa",
    "organizations",
    "policies",
    "providers",
    "roles",
    "simulate",
    "sts",
    "users",
]
