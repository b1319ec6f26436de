"""STS GetFederationToken: a federated user's temporary credentials, for an IAM user's long-term key."""

from __future__ import annotations

from typing import Any

from broker.services.api.call import Call
from broker.services.api.registry import action
from broker.services.api.sts import credentials_view, policy_arns
from broker.services.sts import federation
from broker.services.trust import TAG_SESSION


@action("GetFederationToken", "sts")
def get_federation_token(call: Call) -> dict[str, Any]:
    request = federation.federation_request(
        call.caller,
        name=call.params.get("Name"),
        duration_seconds=call.params.integer("DurationSeconds"),
        policy=call.params.get("Policy"),
        policy_arns=policy_arns(call.params),
        tags=call.params.tags(),
    )
    call.authorize("sts:GetFederationToken", request.federated_user_arn, request.tag_context())
    if request.tags:
        call.authorize(TAG_SESSION, request.federated_user_arn, request.tag_context())
    result = federation.get_federation_token(call.runtime, call.tx, call.caller, request)
    return {
        "Credentials": credentials_view(result.credentials),
        "FederatedUser": federation.federated_user(result.credentials),
        "PackedPolicySize": result.packed_policy_size,
    }
