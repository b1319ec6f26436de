"""Organizations' structure: the organization, its root and OUs, its accounts, and their tags.

Every use case takes the calling account and answers as AWS does (see
:mod:`broker.services.orgs.lookup`), and returns plain values (:mod:`broker.iam.org_entities`).
"""

from broker.services.orgs.structure.accounts import (
    accounts_for_parent,
    create_account,
    create_account_status,
    create_account_statuses,
    describe_account,
    list_accounts,
    move_account,
)
from broker.services.orgs.structure.organization import (
    caller_organization,
    create_organization,
    delete_organization,
    describe_organization,
    list_roots,
    organization_of,
    root_of,
)
from broker.services.orgs.structure.tags import resource_tags, tag_resource, tags_of, untag_resource
from broker.services.orgs.structure.units import (
    create_organizational_unit,
    delete_organizational_unit,
    describe_organizational_unit,
    list_children,
    list_parents,
    organizational_units_for_parent,
    update_organizational_unit,
)

__all__ = [
    "accounts_for_parent",
    "caller_organization",
    "create_account",
    "create_account_status",
    "create_account_statuses",
    "create_organization",
    "create_organizational_unit",
    "delete_organization",
    "delete_organizational_unit",
    "describe_account",
    "describe_organization",
    "describe_organizational_unit",
    "list_accounts",
    "list_children",
    "list_parents",
    "list_roots",
    "move_account",
    "organization_of",
    "organizational_units_for_parent",
    "resource_tags",
    "root_of",
    "tag_resource",
    "tags_of",
    "untag_resource",
    "update_organizational_unit",
]
