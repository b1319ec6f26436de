"""An Organizations call as its handler reads it, and how a handler is registered.

A handler gets a :class:`Request`: the pipeline's :class:`~broker.services.api.call.Call`, the
operation's name and the parsed JSON body. ``request.authorize(*ids)`` asks the policy engine for
``organizations:<Operation>`` on AWS's resource ARN of each id before anything else happens, and
``request.listing(...)`` pages a result with AWS's ``MaxResults`` and ``NextToken``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, TypeVar

from broker.iam import orgs
from broker.iam.errors import AwsError
from broker.iam.org_entities import Organization
from broker.services.api.call import Call
from broker.services.api.organizations import paging
from broker.services.api.registry import action as register_action
from broker.services.orgs import structure
from broker.store import Tx

T = TypeVar("T")
R = TypeVar("R")
P = ParamSpec("P")

# The condition key AWS adds to the policy actions; this broker serves no other policy type.
SCP_CONTEXT: Mapping[str, Any] = {"organizations:PolicyType": orgs.SERVICE_CONTROL_POLICY}


@dataclass(frozen=True)
class Request:
    call: Call
    operation: str
    body: Mapping[str, Any]

    @property
    def tx(self) -> Tx:
        return self.call.tx

    @property
    def account_id(self) -> str:
        """The calling account."""
        return self.call.account_id

    @property
    def action(self) -> str:
        """The IAM action the call needs, ``organizations:<Operation>``."""
        return f"organizations:{self.operation}"

    def run(self, use_case: Callable[Concatenate[Tx, str, P], R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run a use case of :mod:`broker.services.orgs` for the calling account, in the call's transaction."""
        return use_case(self.tx, self.account_id, *args, **kwargs)

    def now(self) -> dt.datetime:
        return self.call.runtime.now()

    def get(self, field: str) -> Any:
        """An optional member of the request; the use case validates it."""
        return self.body.get(field)

    def id(self, field: str, pattern: Any, reason: str = "INVALID_PATTERN") -> str:
        """A required id, checked against its pattern before authorization names its ARN."""
        return orgs.identifier(orgs.required(self.body, field), field, pattern, reason)

    def arguments(self, **members: str) -> dict[str, Any]:
        """A use case's keyword arguments, each the request member named (``name="Name"``); the use
        case validates them."""
        return {parameter: self.body.get(member) for parameter, member in members.items()}

    def authorized(
        self, field: str, pattern: Any, reason: str = "INVALID_PATTERN", context: Mapping[str, Any] | None = None
    ) -> str:
        """The required id ``field``, checked, once the action is authorized on its ARN."""
        identifier = self.id(field, pattern, reason)
        self.authorize(identifier, context=context)
        return identifier

    def authorize(self, *identifiers: str, context: Mapping[str, Any] | None = None) -> None:
        """Authorize the action on the ARN of each id (on ``*`` when none are given), then require
        an organization. Permission comes first, as in AWS: a caller without it learns nothing,
        not even whether its account is in an organization."""
        organization = structure.caller_organization(self.tx, self.account_id)
        for identifier in identifiers or ("*",):
            if organization is None:
                self.call.authorize(self.action, "*", context)
                continue
            tags = structure.tags_of(self.tx, organization, identifier)
            resource_tags = {f"aws:ResourceTag/{key}": value for key, value in tags.items()}
            self.call.authorize(self.action, _arn_of(organization, identifier), {**resource_tags, **(context or {})})
        if organization is None:
            raise AwsError("AWSOrganizationsNotInUseException")

    def tag_context(self) -> dict[str, Any]:
        """``aws:RequestTag/*`` and ``aws:TagKeys`` of the tags the call passes (``Tags``, or
        ``TagKeys`` for UntagResource). Entries of the wrong shape are left out here: the use case
        refuses them after authorization, before any tag is written."""
        tags = self.body.get("Tags")
        keys = self.body.get("TagKeys")
        context: dict[str, Any] = {}
        if isinstance(tags, list):
            pairs = [
                (tag["Key"], tag.get("Value"))
                for tag in tags
                if isinstance(tag, dict) and isinstance(tag.get("Key"), str)
            ]
            context.update({f"aws:RequestTag/{key}": value for key, value in pairs if isinstance(value, str)})
            context["aws:TagKeys"] = [key for key, _ in pairs]
        elif isinstance(keys, list):
            context["aws:TagKeys"] = [key for key in keys if isinstance(key, str)]
        return context

    def listing(
        self, member: str, items: Sequence[T], key: Callable[[T], str], view: Callable[[T], Any]
    ) -> dict[str, Any]:
        """One page of ``items`` in ``key`` order under ``member``, with the ``NextToken`` of the next."""
        bound_to = paging.binding(self.account_id, self.operation, self.body)
        page, more = paging.page(self.call.runtime.box, bound_to, self.body, items, key)
        return {member: [view(item) for item in page], **more}


def _arn_of(organization: Organization, identifier: str) -> str:
    """The ARN AWS authorizes for a root, OU, account or policy id (well-formed ids only)."""
    management, org_id = organization.management_account_id, organization.id
    if orgs.ROOT_ID.fullmatch(identifier):
        return orgs.root_arn(management, org_id, identifier)
    if orgs.OU_ID.fullmatch(identifier):
        return orgs.ou_arn(management, org_id, identifier)
    if orgs.ACCOUNT_ID.fullmatch(identifier):
        return organization.account_arn(identifier)
    if identifier == orgs.FULL_AWS_ACCESS_ID:
        return orgs.aws_managed_policy_arn(identifier)
    if orgs.POLICY_ID.fullmatch(identifier):
        return orgs.policy_arn(management, org_id, identifier)
    return "*"


Handler = Callable[[Request], dict[str, Any]]


def action(name: str, read_only: bool = False) -> Callable[[Handler], Handler]:
    """Register an Organizations action (JSON protocol); its handler reads the :class:`Request`."""

    def register(handler: Handler) -> Handler:
        register_action(name, "organizations", read_only)(lambda call: handler(Request(call, name, call.body)))
        return handler

    return register
