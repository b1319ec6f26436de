"""Typed access to an AWS request's parameters, with AWS's validation messages: the Query
protocol's form parameters, and the JSON protocol's request body."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, NoReturn

from broker.iam.errors import AwsError
from broker.policy._json import MAX_JSON_DEPTH, nested_too_deeply

# Integers and list indexes on the wire are ASCII digits: str.isdigit() also accepts "²" and
# int() accepts "٣", " 7 " and "1_0", none of which AWS reads as a number.
_INTEGER = re.compile(r"-?[0-9]+")
# A list index as botocore writes it: 1-based, no leading zero, and short enough that a request
# cannot make Python convert thousands of digits.
_INDEX = re.compile(r"[1-9][0-9]{0,8}")


class Params:
    """The form (or query-string) parameters of one Query-protocol call.

    Every Query parameter is single-valued (lists are spelled ``Name.member.N``), so a name given
    twice is a malformed request: :meth:`repeated` finds it before the call is routed.
    """

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        self._values: dict[str, list[str]] = {}
        for name, value in pairs:
            self._values.setdefault(name, []).append(value)
        self._grouped: dict[str, list[tuple[str, str]]] | None = None

    def repeated(self) -> str | None:
        """The first parameter given more than once, if any. SigV4's own ``X-Amz-*`` parameters
        are left to the signature check, which refuses a repeated one with its own error."""
        for name, values in self._values.items():
            if len(values) > 1 and not name.lower().startswith("x-amz-"):
                return name
        return None

    def get(self, name: str) -> str | None:
        values = self._values.get(name, [])
        if len(values) > 1:
            raise repeated_parameter(name)
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
        if _INTEGER.fullmatch(value):
            try:
                return int(value)
            except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
                pass
        raise AwsError(
            "ValidationError",
            f"1 validation error detected: Value '{_shown(value)}' at '{_camel(name)}' "
            "failed to satisfy constraint: Member must be an integer",
        )

    def _lists(self) -> dict[str, list[tuple[str, str]]]:
        """Every list parameter, grouped once by the list it belongs to: ``A.member.3`` and
        ``A.member.3.Field`` under ``A`` (the text before the last ``.member.``), with what follows
        (``3``, ``3.Field``). Reading one list then costs its own entries, however many other
        lists (or nested lists, such as each context entry's values) the request holds."""
        if self._grouped is None:
            grouped: dict[str, list[tuple[str, str]]] = {}
            for key in self._values:
                head, marker, rest = key.rpartition(".member.")
                if marker:
                    grouped.setdefault(head, []).append((rest, key))
            self._grouped = grouped
        return self._grouped

    def entries(self, prefix: str) -> dict[int, dict[str, str]]:
        """``Prefix.member.N`` (under the field ``""``) and ``Prefix.member.N.Field``: each index's
        fields, in index order. An index is 1 to 999,999,999 in ASCII digits without a leading
        zero, as botocore writes it; any other is a ValidationError, not an entry silently left out."""
        found: dict[int, dict[str, str]] = {}
        for rest, key in self._lists().get(prefix, ()):
            number, _, field = rest.partition(".")
            if not _INDEX.fullmatch(number):
                raise AwsError(
                    "ValidationError",
                    f"1 validation error detected: The list index in '{_shown(key)}' must be a "
                    "number from 1 to 999999999",
                )
            found.setdefault(int(number), {})[field] = self.get(key) or ""
        return dict(sorted(found.items()))

    def refuse_strays(self, prefix: str, form: str) -> None:
        """Refuse a parameter under ``Prefix.`` that is not an entry of the list ``Prefix``
        (``Prefix.1.arn``, ``Prefix.arn``), for lists where an entry read past would
        change what the call grants; ``form`` names the spelling expected."""
        listed = {key for _, key in self._lists().get(prefix, ())}
        stray = next((key for key in self._values if key.startswith(f"{prefix}.") and key not in listed), None)
        if stray is not None:
            raise AwsError("ValidationError", f"Unexpected parameter {_shown(stray)}: expected {form}")

    def members(self, prefix: str) -> list[str]:
        """``Prefix.member.1``, ``Prefix.member.2`` ... in index order."""
        return [fields[""] for fields in self.entries(prefix).values() if "" in fields]

    def tags(self, prefix: str = "Tags") -> list[tuple[str, str]]:
        """``Prefix.member.N.Key`` and ``.Value`` pairs, in index order."""
        return [(fields.get("Key", ""), fields.get("Value", "")) for fields in self.entries(prefix).values()]

    def as_dict(self) -> dict[str, str]:
        """Each parameter's first value (what the audit trail records)."""
        return {name: values[0] for name, values in self._values.items()}


def repeated_parameter(name: str) -> AwsError:
    """AWS's common error for a query string that does not follow the Query protocol."""
    return AwsError(
        "InvalidQueryParameter",
        f"The parameter {_shown(name)} is given more than once; each Query parameter may appear once.",
    )


def read_json_body(raw: bytes) -> Mapping[str, Any]:
    """A JSON-protocol request body: a JSON object in UTF-8 (empty means ``{}``), nested at most
    :data:`~broker.policy._json.MAX_JSON_DEPTH` levels; ``SerializationException`` otherwise."""
    if not raw.strip():
        return {}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        _unreadable("The request body is not UTF-8.")
    if nested_too_deeply(text):
        _unreadable(f"The request body nests JSON more than {MAX_JSON_DEPTH} levels deep.")
    try:
        parsed = json.loads(text, parse_constant=_reject_constant)
    except ValueError:
        _unreadable("The request body is not valid JSON.")
    if not isinstance(parsed, dict):
        _unreadable("The request body must be a JSON object.")
    return parsed


def _unreadable(message: str) -> NoReturn:
    raise AwsError("SerializationException", message)


def _reject_constant(name: str) -> NoReturn:
    # NaN and the infinities are Python's extensions to JSON; AWS's parsers refuse them.
    raise ValueError(f"{name} is not valid JSON")


def _shown(value: str, limit: int = 128) -> str:
    """A caller's text as a message quotes it: clipped, so an error never echoes a whole body."""
    return value if len(value) <= limit else value[:limit] + "..."


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]
