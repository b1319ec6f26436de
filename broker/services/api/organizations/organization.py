"""The organization itself and its root."""

from __future__ import annotations

from functools import partial
from typing import Any

from broker.services.api.organizations import views
from broker.services.api.organizations.paging import by_id
from broker.services.api.organizations.request import Request, action
from broker.services.orgs import structure


@action("CreateOrganization")
def create_organization(request: Request) -> dict[str, Any]:
    # The one action an account outside any organization may call.
    request.call.authorize(request.action, "*")
    request.run(structure.create_organization, request.get("FeatureSet"), request.now())
    return {"Organization": views.organization(request.run(structure.describe_organization))}


@action("DescribeOrganization", read_only=True)
def describe_organization(request: Request) -> dict[str, Any]:
    request.authorize()
    return {"Organization": views.organization(request.run(structure.describe_organization))}


@action("DeleteOrganization")
def delete_organization(request: Request) -> dict[str, Any]:
    request.authorize()
    request.run(structure.delete_organization)
    return {}


@action("ListRoots", read_only=True)
def list_roots(request: Request) -> dict[str, Any]:
    request.authorize()
    organization, roots = request.run(structure.list_roots)
    return request.listing("Roots", roots, by_id, partial(views.root, organization))
