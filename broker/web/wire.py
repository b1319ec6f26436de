"""The AWS wire formats: Query protocol XML (``<ActionResponse>``, ``<ErrorResponse>``) and the JSON
protocol (``x-amz-json-1.1`` bodies, ``__type`` errors)."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from typing import Any
from xml.sax.saxutils import escape

from broker.iam.errors import AwsError
from broker.iam.timestamps import aws_timestamp
from broker.services.api import XmlMap

# Characters XML 1.0 cannot carry at all (not even escaped): most C0 controls, lone surrogates,
# U+FFFE and U+FFFF. A caller's text echoed in a message must not make the document unreadable.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(value: str) -> str:
    """``value`` as XML character data: escaped, characters XML cannot hold replaced by U+FFFD."""
    return escape(_NOT_XML.sub("\ufffd", value))


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return aws_timestamp(value)
    return str(value)


def render_value(name: str, value: Any, out: list[str]) -> None:
    """``dict`` -> nested elements, ``list`` -> ``<member>`` items, ``None`` -> omitted."""
    if value is None:
        return
    if isinstance(value, XmlMap):
        out.append(f"<{name}>")
        for key, item in value.items():
            out.append("<entry>")
            render_value("key", key, out)
            render_value("value", item, out)
            out.append("</entry>")
        out.append(f"</{name}>")
    elif isinstance(value, Mapping):
        out.append(f"<{name}>")
        for key, item in value.items():
            render_value(key, item, out)
        out.append(f"</{name}>")
    elif isinstance(value, list | tuple):
        out.append(f"<{name}>")
        for item in value:
            render_value("member", item, out)
        out.append(f"</{name}>")
    else:
        out.append(f"<{name}>{_text(_scalar(value))}</{name}>")


def success_xml(action: str, namespace: str, result: Mapping[str, Any] | None, request_id: str) -> str:
    out = [f'<{action}Response xmlns="{namespace}">']
    if result is not None:
        render_value(f"{action}Result", result, out)
    out.append(f"<ResponseMetadata><RequestId>{_text(request_id)}</RequestId></ResponseMetadata>")
    out.append(f"</{action}Response>")
    return "".join(out)


def error_xml(error: AwsError, namespace: str, request_id: str) -> str:
    return (
        f'<ErrorResponse xmlns="{namespace}"><Error><Type>{error.type}</Type>'
        f"<Code>{_text(error.code)}</Code><Message>{_text(error.message)}</Message></Error>"
        f"<RequestId>{_text(request_id)}</RequestId></ErrorResponse>"
    )


JSON_CONTENT_TYPE = "application/x-amz-json-1.1"


def json_success(result: Mapping[str, Any] | None) -> str:
    return json.dumps(result or {}, separators=(",", ":"))


def json_error(error: AwsError) -> str:
    fields = {"__type": error.code, "message": error.message}
    if error.reason:
        fields["Reason"] = error.reason
    return json.dumps(fields)
