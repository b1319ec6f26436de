"""CloudTrail ``LookupEvents`` on the AWS endpoint's JSON protocol."""

from __future__ import annotations

from typing import Any

from broker.services.api.call import Call
from broker.services.api.registry import action
from broker.services.audit.lookup import lookup_events, parse_request


@action("LookupEvents", "cloudtrail", read_only=True)
def lookup(call: Call) -> dict[str, Any]:
    call.authorize("cloudtrail:LookupEvents", "*")
    query = parse_request(call.body)
    management = call.account_id == call.runtime.settings.default_account_id
    return lookup_events(call.tx, query, call.account_id, management=management)
