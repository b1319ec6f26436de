"""Tags on a root, OU, account or policy."""

from __future__ import annotations

from typing import Any

from broker.iam import orgs
from broker.services.api.organizations import views
from broker.services.api.organizations.request import Request, action
from broker.services.orgs import structure


def _resource_id(request: Request) -> str:
    """The resource, authorized with its own tags and (TagResource, UntagResource) those the call passes."""
    return request.authorized("ResourceId", orgs.TAGGABLE_ID, context=request.tag_context())


@action("TagResource")
def tag_resource(request: Request) -> dict[str, Any]:
    request.run(structure.tag_resource, _resource_id(request), request.get("Tags"))
    return {}


@action("UntagResource")
def untag_resource(request: Request) -> dict[str, Any]:
    request.run(structure.untag_resource, _resource_id(request), request.get("TagKeys"))
    return {}


@action("ListTagsForResource", read_only=True)
def list_tags_for_resource(request: Request) -> dict[str, Any]:
    tags = request.run(structure.resource_tags, _resource_id(request))
    return request.listing("Tags", tags, lambda tag: tag[0], views.tag)
