"""Imports every module of actions, so each registers its handlers."""

from broker.services.api import cloudtrail, federation_token, organizations, sts
from broker.services.api.iam import (
    account,
    groups,
    inline,
    instance_profiles,
    keys,
    mfa,
    policies,
    providers,
    roles,
    service_credentials,
    service_linked,
    simulate,
    users,
)

__all__ = [
    "account",
    "cloudtrail",
    "federation_token",
    "groups",
    "inline",
    "instance_profiles",
    "keys",
    "mfa",
    "organizations",
    "policies",
    "providers",
    "roles",
    "service_credentials",
    "service_linked",
    "simulate",
    "sts",
    "users",
]
