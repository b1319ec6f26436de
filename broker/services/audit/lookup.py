"""CloudTrail ``LookupEvents`` over the audit trail: request validation, query, response shape.

As in CloudTrail: management events only (data events, such as decisions, are in the trail and
its exports but not listed), at most one lookup attribute, newest events first, ``MaxResults``
1..50 (default 50), ``NextToken`` valid only for the same attribute and time range, and each
event with ``CloudTrailEvent`` holding its full record as a JSON string.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from broker.iam.errors import AwsError
from broker.services.audit.chain import canonical_json
from broker.store import Tx
from broker.store.audit.events import LookedUpEvent, LookupField, lookup_page

# CloudTrail's lookup attributes, and the column each filters on.
_ATTRIBUTE_FIELDS: dict[str, LookupField] = {
    "EventId": "event_id",
    "EventName": "event_name",
    "ReadOnly": "read_only",
    "Username": "username",
    "ResourceType": "resource_type",
    "ResourceName": "resource_name",
    "EventSource": "event_source",
    "AccessKeyId": "access_key_id",
}
ATTRIBUTE_KEYS = tuple(_ATTRIBUTE_FIELDS)
MAX_RESULTS = 50
_VALUE_MAX = 2000


@dataclass(frozen=True)
class LookupQuery:
    attribute: tuple[str, str] | None
    start: dt.datetime | None
    end: dt.datetime | None
    max_results: int
    before_index: int | None
    insights: bool = False

    def fingerprint(self) -> str:
        described = {
            "a": list(self.attribute) if self.attribute else None,
            "s": self.start.isoformat() if self.start else None,
            "e": self.end.isoformat() if self.end else None,
            "i": self.insights,
        }
        return hashlib.sha256(canonical_json(described)).hexdigest()[:16]


def _invalid(code: str, message: str) -> AwsError:
    return AwsError(code, message)


def _timestamp(name: str, value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise AwsError("SerializationException", f"{name} must be a timestamp")
    if isinstance(value, int | float):
        try:
            return dt.datetime.fromtimestamp(value, dt.UTC)
        except (OverflowError, OSError, ValueError):
            raise _invalid("InvalidTimeRangeException", f"{name} is out of range.") from None
    if isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise AwsError("SerializationException", f"{name} must be a timestamp") from None
        try:  # in UTC, as the trail stores it: 0001-01-01T00:00:00+14:00 has no UTC time
            return moment.astimezone(dt.UTC) if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
        except OverflowError:
            raise _invalid("InvalidTimeRangeException", f"{name} is out of range.") from None
    raise AwsError("SerializationException", f"{name} must be a timestamp")


def _attribute(items: Any) -> tuple[str, str] | None:
    if items is None:
        return None
    if not isinstance(items, list):
        raise AwsError("SerializationException", "LookupAttributes must be a list")
    if not items:
        return None
    if len(items) > 1:
        raise _invalid("InvalidLookupAttributesException", "You can specify only one lookup attribute.")
    item = items[0]
    if not isinstance(item, Mapping):
        raise AwsError("SerializationException", "LookupAttributes members must be structures")
    key, value = item.get("AttributeKey"), item.get("AttributeValue")
    if key not in ATTRIBUTE_KEYS:
        raise _invalid(
            "InvalidLookupAttributesException",
            f"Invalid attribute key: {key!r}. Valid keys are {', '.join(ATTRIBUTE_KEYS)}.",
        )
    if not isinstance(value, str) or not 1 <= len(value) <= _VALUE_MAX:
        raise _invalid(
            "InvalidLookupAttributesException", f"The value for {key} must be 1 to {_VALUE_MAX} characters long."
        )
    if "\x00" in value or not _encodable(value):
        # No stored name holds NUL (PostgreSQL refuses it in text) or a lone surrogate.
        raise _invalid("InvalidLookupAttributesException", f"The value for {key} holds a character no event has.")
    if key == "ReadOnly" and value.lower() not in ("true", "false"):
        raise _invalid("InvalidLookupAttributesException", "The value for ReadOnly must be true or false.")
    return str(key), value


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_request(body: Mapping[str, Any]) -> LookupQuery:
    """Validate a LookupEvents request body; CloudTrail's error codes for what is wrong."""
    attribute = _attribute(body.get("LookupAttributes"))
    start = _timestamp("StartTime", body.get("StartTime"))
    end = _timestamp("EndTime", body.get("EndTime"))
    if start is not None and end is not None and start > end:
        raise _invalid("InvalidTimeRangeException", "Start time must be earlier than end time.")
    category = body.get("EventCategory")
    if category is not None and category != "insight":
        raise _invalid("InvalidEventCategoryException", f"Invalid event category: {category!r}.")
    max_results = body.get("MaxResults", MAX_RESULTS)
    if isinstance(max_results, bool) or not isinstance(max_results, int) or not 1 <= max_results <= MAX_RESULTS:
        raise _invalid("InvalidMaxResultsException", f"MaxResults must be between 1 and {MAX_RESULTS}.")
    query = LookupQuery(attribute, start, end, max_results, None, insights=category == "insight")
    token = body.get("NextToken")
    if token is not None:
        return LookupQuery(attribute, start, end, max_results, _read_token(token, query), query.insights)
    return query


def _read_token(token: Any, query: LookupQuery) -> int:
    invalid = _invalid("InvalidNextTokenException", "Invalid NextToken.")
    if not isinstance(token, str) or len(token) > 512:
        raise invalid
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token.encode("ascii") + b"=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, UnicodeError):
        raise invalid from None
    if not isinstance(decoded, dict) or decoded.get("q") != query.fingerprint():
        raise _invalid("InvalidNextTokenException", "The NextToken was issued for other parameters.")
    before = decoded.get("b")
    # A position in the chain, a 64-bit integer: the token is readable, and a larger one was a 500.
    if isinstance(before, bool) or not isinstance(before, int) or not 1 <= before < 2**63:
        raise invalid
    return before


def _token(before: int, query: LookupQuery) -> str:
    raw = json.dumps({"b": before, "q": query.fingerprint()}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _filter(attribute: tuple[str, str]) -> tuple[LookupField, str | bool]:
    key, value = attribute
    field = _ATTRIBUTE_FIELDS[key]
    return (field, value.lower() == "true") if field == "read_only" else (field, value)


def lookup_events(tx: Tx, query: LookupQuery, account_id: str, *, management: bool) -> dict[str, Any]:
    """The LookupEvents response: ``Events`` newest first, and ``NextToken`` when more remain.

    An account sees the management events recorded for it; the management (default) account
    (``management``) also sees those recorded for no account (anonymous refusals, broker-wide
    changes). Data events are never listed.
    """
    if query.insights:
        return {"Events": []}  # the broker records no Insights events
    found = lookup_page(
        tx,
        account_id=account_id,
        include_unowned=management,
        attribute=_filter(query.attribute) if query.attribute is not None else None,
        start=query.start,
        end=query.end,
        before_index=query.before_index,
        limit=query.max_results + 1,
    )
    page = found[: query.max_results]
    response: dict[str, Any] = {"Events": [_event(e) for e in page]}
    if len(found) > query.max_results:
        response["NextToken"] = _token(page[-1].chain_index, query)
    return response


def _event(event: LookedUpEvent) -> dict[str, Any]:
    item: dict[str, Any] = {
        "EventId": event.event_id,
        "EventName": event.event_name,
        "ReadOnly": "true" if event.read_only else "false",
    }
    if event.access_key_id:
        item["AccessKeyId"] = event.access_key_id
    item["EventTime"] = event.event_time.timestamp()
    item["EventSource"] = event.event_source
    if event.username:
        item["Username"] = event.username
    item["Resources"] = [
        {k: v for k, v in (("ResourceType", kind), ("ResourceName", name)) if v} for kind, name in event.resources
    ]
    item["CloudTrailEvent"] = json.dumps(event.record, separators=(",", ":"))
    return item
