"""AWS Query protocol on the wire: form parameters in, namespaced XML out."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any
from xml.sax.saxutils import escape

from werkzeug.datastructures import MultiDict

from broker.iam.errors import AwsError
from broker.iam.timestamps import aws_timestamp

IAM_NS = "https://iam.amazonaws.com/doc/2010-05-08/"
STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return aws_timestamp(value)
    return str(value)


class XmlMap(dict[str, Any]):
    """A Query-protocol map: ``<entry><key>k</key><value>v</value></entry>`` per item."""


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
        out.append(f"<{name}>{escape(_scalar(value))}</{name}>")


def success_xml(action: str, namespace: str, result: Mapping[str, Any] | None, request_id: str) -> str:
    out = [f'<{action}Response xmlns="{namespace}">']
    if result is not None:
        render_value(f"{action}Result", result, out)
    out.append(f"<ResponseMetadata><RequestId>{escape(request_id)}</RequestId></ResponseMetadata>")
    out.append(f"</{action}Response>")
    return "".join(out)


def error_xml(error: AwsError, namespace: str, request_id: str) -> str:
    return (
        f'<ErrorResponse xmlns="{namespace}"><Error><Type>{error.type}</Type>'
        f"<Code>{escape(error.code)}</Code><Message>{escape(error.message)}</Message></Error>"
        f"<RequestId>{escape(request_id)}</RequestId></ErrorResponse>"
    )


class Params:
    """Typed access to Query parameters with AWS's validation messages."""

    def __init__(self, form: MultiDict[str, str]) -> None:
        self._form = form

    def get(self, name: str) -> str | None:
        values = self._form.getlist(name)
        if len(values) > 1:
            raise AwsError("InvalidParameterValue", f"Parameter {name} is given more than once.")
        return values[0] if values else None

    def required(self, name: str) -> str:
        value = self.get(name)
        if value is None or value == "":
            raise AwsError(
                "ValidationError",
                f"1 validation error detected: Value null at '{_camel(name)}' "
                "failed to satisfy constraint: Member must not be null",
            )
        return value

    def integer(self, name: str) -> int | None:
        value = self.get(name)
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            raise AwsError(
                "ValidationError",
                f"1 validation error detected: Value '{value}' at '{_camel(name)}' "
                "failed to satisfy constraint: Member must be an integer",
            ) from None

    def members(self, prefix: str) -> list[str]:
        """``Prefix.member.1``, ``Prefix.member.2`` ... in index order."""
        items: dict[int, str] = {}
        marker = f"{prefix}.member."
        for key in self._form:
            if key.startswith(marker) and key[len(marker) :].isdigit():
                items[int(key[len(marker) :])] = self.get(key) or ""
        return [items[i] for i in sorted(items)]

    def tags(self, prefix: str = "Tags") -> list[tuple[str, str]]:
        indexes: set[int] = set()
        marker = f"{prefix}.member."
        for key in self._form:
            if key.startswith(marker):
                head = key[len(marker) :].split(".", 1)[0]
                if head.isdigit():
                    indexes.add(int(head))
        return [(self.get(f"{marker}{i}.Key") or "", self.get(f"{marker}{i}.Value") or "") for i in sorted(indexes)]

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in self._form.items()}


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]
