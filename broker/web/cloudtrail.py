"""CloudTrail on the AWS endpoint (``LookupEvents``) and the audit digest keys' public part."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, jsonify

from broker.services.audit.lookup import lookup_events, parse_request
from broker.web.json_protocol import json_action
from broker.web.protocol import Call, runtime

TARGET_PREFIX = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101"
EVENT_SOURCE = "cloudtrail.amazonaws.com"
bp = Blueprint("cloudtrail", __name__)


@json_action(TARGET_PREFIX, "LookupEvents", EVENT_SOURCE, read_only=True)
def lookup(call: Call, body: Mapping[str, Any]) -> dict[str, Any]:
    call.authorize("cloudtrail:LookupEvents", "*")
    query = parse_request(body)
    management = call.account_id == call.runtime.settings.default_account_id
    return lookup_events(call.session, query, call.account_id, management=management)


@bp.get("/.well-known/audit-keys.json")
def audit_keys() -> Response:
    """The public keys digests are signed with (current and retired), as a JWKS."""
    response = jsonify(runtime().keys.audit_keys.jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
