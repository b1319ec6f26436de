"""Handlers of the AWS Query actions, registered by importing their modules."""

from broker.web.actions import (
    iam_account,
    iam_groups,
    iam_inline,
    iam_keys,
    iam_mfa,
    iam_policies,
    iam_providers,
    iam_roles,
    iam_simulate,
    iam_users,
    organizations,
    sts,
)

__all__ = [
    "iam_account",
    "iam_groups",
    "iam_inline",
    "iam_keys",
    "iam_mfa",
    "iam_policies",
    "iam_providers",
    "iam_roles",
    "iam_simulate",
    "iam_users",
    "organizations",
    "sts",
]
