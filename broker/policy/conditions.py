"""Condition operators: validation of a ``Condition`` block and its evaluation.

Each operator belongs to a family that fixes how values are typed and compared.
Policy values are parsed at validation time, and where they hold no variables
they are folded into one precompiled test per condition, so evaluation is a
context lookup plus one call per context value.

Semantics (AWS's, including the quirks):

* several values for one key are OR'ed; a negated operator (``StringNotEquals``,
  ``NotIpAddress``, ``ArnNotLike``...) is true only when none of them matches;
* a missing key makes positive operators false and negated ones true, and any
  ``...IfExists`` operator true; ``Null`` tests presence itself;
* ``ForAllValues`` is true on a missing or empty key, ``ForAnyValue`` false;
* with a plain (non-set) operator and a multi-valued context key, the condition
  holds when any context value matches (negated: when none does). This is the
  reading of AWS's "any value" behaviour chosen here and documented in the
  README of this package;
* a context value that does not convert to the operator's type (``"abc"`` for
  ``NumericEquals``) matches no policy value;
* a policy variable without a value makes the condition, and so the statement,
  not match, whatever the operator's polarity.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

from broker.policy import _values
from broker.policy._values import Scalar
from broker.policy._wildcard import Matcher, compile_any, compile_pieces
from broker.policy.errors import MalformedPolicyDocument
from broker.policy.variables import Context, Template, parse_template, plain_template


class Family(Enum):
    STRING = "String"
    NUMERIC = "Numeric"
    DATE = "Date"
    BOOL = "Bool"
    BINARY = "Binary"
    IP = "IpAddress"
    ARN = "Arn"
    NULL = "Null"


class Qualifier(Enum):
    FOR_ALL_VALUES = "ForAllValues"
    FOR_ANY_VALUE = "ForAnyValue"


@dataclass(frozen=True, slots=True)
class Operator:
    name: str
    family: Family
    test: str
    negated: bool = False


_OPERATOR_LIST = (
    Operator("StringEquals", Family.STRING, "eq"),
    Operator("StringNotEquals", Family.STRING, "eq", negated=True),
    Operator("StringEqualsIgnoreCase", Family.STRING, "eq_ci"),
    Operator("StringNotEqualsIgnoreCase", Family.STRING, "eq_ci", negated=True),
    Operator("StringLike", Family.STRING, "like"),
    Operator("StringNotLike", Family.STRING, "like", negated=True),
    # Numbers and dates have the same six comparisons, named after the family.
    *(
        Operator(f"{family.value}{comparison}", family, test, negated)
        for family in (Family.NUMERIC, Family.DATE)
        for comparison, test, negated in (
            ("Equals", "eq", False),
            ("NotEquals", "eq", True),
            ("LessThan", "lt", False),
            ("LessThanEquals", "le", False),
            ("GreaterThan", "gt", False),
            ("GreaterThanEquals", "ge", False),
        )
    ),
    Operator("Bool", Family.BOOL, "eq"),
    Operator("BinaryEquals", Family.BINARY, "eq"),
    Operator("IpAddress", Family.IP, "in"),
    Operator("NotIpAddress", Family.IP, "in", negated=True),
    # AWS documents ArnEquals and ArnLike as the same test (both take wildcards).
    Operator("ArnEquals", Family.ARN, "like"),
    Operator("ArnLike", Family.ARN, "like"),
    Operator("ArnNotEquals", Family.ARN, "like", negated=True),
    Operator("ArnNotLike", Family.ARN, "like", negated=True),
    Operator("Null", Family.NULL, "null"),
)
OPERATORS: Mapping[str, Operator] = {operator.name: operator for operator in _OPERATOR_LIST}

_CONDITION_KEY = re.compile(r"[A-Za-z0-9_.-]+:\S.*", re.DOTALL)
_IF_EXISTS = "IfExists"
_RESOLVED_CACHE_SIZE = 1024

# hit(value) -> does this context value match any policy value?
ValueTest = Callable[[Scalar], bool]


@dataclass(frozen=True, slots=True)
class Condition:
    """One key of one operator of a statement's Condition block."""

    operator_text: str
    operator: Operator
    qualifier: Qualifier | None
    if_exists: bool
    key: str
    lookup_key: str
    values: tuple[object, ...]
    templates: tuple[Template, ...] = ()
    # Precompiled test for policies without variables; None means "resolve per request".
    static_test: ValueTest | None = field(default=None, compare=False, repr=False)
    # Tests compiled per tuple of substituted variable values (see _resolved_test).
    resolved_tests: dict[tuple[tuple[str, ...], ...], ValueTest] = field(
        default_factory=dict, compare=False, repr=False
    )
    when_missing: bool = field(init=False, compare=False, repr=False, default=False)

    def __post_init__(self) -> None:
        # Result when the key is missing. IfExists says "only if the key is there",
        # so it wins over ForAnyValue's false.
        if self.if_exists or self.qualifier is Qualifier.FOR_ALL_VALUES:
            when_missing = True
        elif self.qualifier is Qualifier.FOR_ANY_VALUE:
            when_missing = False
        else:
            when_missing = self.operator.negated
        object.__setattr__(self, "when_missing", when_missing)

    def holds(self, context: Context, missing: list[str]) -> bool:
        """Evaluate against a normalised context (lower-case keys, tuples of values)."""
        present = context.get(self.lookup_key)
        operator = self.operator
        if operator.family is Family.NULL:
            is_null = not present
            return any(expected is is_null for expected in self.values)
        if not present:
            missing.append(self.key)
            return self.when_missing
        test = self.static_test
        if test is None:
            test = self._resolved_test(context, missing)
            if test is None:
                return False
        qualifier = self.qualifier
        if qualifier is None:
            # Plain operator: any context value matching is a hit (see module docstring).
            hit = test(present[0]) if len(present) == 1 else any(test(value) for value in present)
            return not hit if operator.negated else hit
        if qualifier is Qualifier.FOR_ALL_VALUES:
            if operator.negated:
                return not any(test(value) for value in present)
            return all(test(value) for value in present)
        if operator.negated:
            return not all(test(value) for value in present)
        return any(test(value) for value in present)

    def _resolved_test(self, context: Context, missing: list[str]) -> ValueTest | None:
        key = []
        for template in self.templates:
            values = template.variable_values(context, missing)
            if values is None:
                return None
            key.append(values)
        cache_key = tuple(key)
        test = self.resolved_tests.get(cache_key)
        if test is None:
            resolved = [t.fill(v) for t, v in zip(self.templates, cache_key, strict=True)]
            if self.operator.family is Family.ARN:
                test = _arn_test(resolved)
            else:
                test = _string_test(self.operator.test, resolved)
            if len(self.resolved_tests) >= _RESOLVED_CACHE_SIZE:
                self.resolved_tests.clear()
            self.resolved_tests[cache_key] = test
        return test


def _string_test(test: str, values: Sequence[tuple[tuple[str, bool], ...]]) -> ValueTest:
    to_text = _values.to_text
    if test == "like":
        if all(all(active for _, active in pieces) for pieces in values):
            matcher = compile_any("".join(text for text, _ in pieces) for pieces in values)
        else:
            matchers = [compile_pieces(pieces) for pieces in values]

            def matcher(text: str) -> bool:
                return any(match(text) for match in matchers)

        return lambda value: matcher(value if value.__class__ is str else to_text(value))
    texts = ["".join(text for text, _ in pieces) for pieces in values]
    if test == "eq_ci":
        lowered = frozenset(text.lower() for text in texts)
        return lambda value: (value if value.__class__ is str else to_text(value)).lower() in lowered
    exact = frozenset(texts)
    # Context values are nearly always str: skip the conversion call for them.
    return lambda value: (value if value.__class__ is str else to_text(value)) in exact


def _split_arn_pieces(pieces: tuple[tuple[str, bool], ...]) -> list[tuple[tuple[str, bool], ...]]:
    """Split on the first five colons, whichever piece they come from."""
    segments: list[list[tuple[str, bool]]] = [[]]
    for text, active in pieces:
        rest = text
        while len(segments) < 6 and ":" in rest:
            head, rest = rest.split(":", 1)
            segments[-1].append((head, active))
            segments.append([])
        segments[-1].append((rest, active))
    return [tuple(segment) for segment in segments]


def _arn_test(values: Sequence[tuple[tuple[str, bool], ...]]) -> ValueTest:
    whole: list[Matcher] = []
    segmented: list[tuple[Matcher, ...]] = []
    for pieces in values:
        segments = _split_arn_pieces(pieces)
        if len(segments) < 6:
            # Not an ARN pattern (typically "*"): match the whole string.
            whole.append(compile_pieces(pieces))
        else:
            segmented.append(tuple(compile_pieces(segment) for segment in segments))
    to_text = _values.to_text

    def test(value: Scalar) -> bool:
        text = to_text(value)
        if any(match(text) for match in whole):
            return True
        parts = text.split(":", 5)
        if len(parts) < 6:
            return False
        return any(all(match(part) for match, part in zip(matchers, parts, strict=True)) for matchers in segmented)

    return test


def _member_test(convert: Callable[[Scalar], object | None], expected: Iterable[object]) -> ValueTest:
    """A context value matches when it converts to one of the policy's values."""
    members = frozenset(expected)

    def test(value: Scalar) -> bool:
        converted = convert(value)
        return converted is not None and converted in members

    return test


def _ordered_test(test: str, numbers: Sequence[float], convert: Callable[[Scalar], float | None]) -> ValueTest:
    # "x < any of the values" is "x < the largest", and so on: one comparison per context value.
    if test == "eq":
        return _member_test(convert, numbers)
    bound = max(numbers) if test in ("lt", "le") else min(numbers)
    compare: Callable[[float], bool] = {
        "lt": lambda number: number < bound,
        "le": lambda number: number <= bound,
        "gt": lambda number: number > bound,
        "ge": lambda number: number >= bound,
    }[test]

    def ordered(value: Scalar) -> bool:
        number = convert(value)
        return number is not None and compare(number)

    return ordered


def _static_test(operator: Operator, values: tuple[object, ...], templates: tuple[Template, ...]) -> ValueTest:
    family = operator.family
    if family is Family.STRING:
        return _string_test(operator.test, [template.resolve({}) or () for template in templates])
    if family is Family.ARN:
        return _arn_test([template.resolve({}) or () for template in templates])
    if family is Family.NUMERIC:
        numbers = [v for v in values if isinstance(v, float)]
        return _ordered_test(operator.test, numbers, _values.to_number)
    if family is Family.DATE:
        moments = [v for v in values if isinstance(v, float)]
        return _ordered_test(operator.test, moments, _values.to_timestamp)
    if family is Family.BOOL:
        return _member_test(_values.to_bool, (v for v in values if isinstance(v, bool)))
    if family is Family.BINARY:
        return _member_test(_values.to_bytes, (v for v in values if isinstance(v, bytes)))
    networks = [v for v in values if isinstance(v, _values.IpNetworkTypes)]

    def ip_test(value: Scalar) -> bool:
        address = _values.to_ip(value)
        return address is not None and any(address in network for network in networks)

    return ip_test


def parse_operator(text: str, path: str) -> tuple[Operator, Qualifier | None, bool]:
    """Split ``ForAnyValue:StringLikeIfExists`` into its three parts."""
    qualifier: Qualifier | None = None
    name = text
    prefix, colon, rest = text.partition(":")
    if colon:
        try:
            qualifier = Qualifier(prefix)
        except ValueError:
            raise MalformedPolicyDocument(
                f"{path}: unknown set operator {prefix!r}; expected ForAllValues or ForAnyValue"
            ) from None
        name = rest
    if_exists = False
    operator = OPERATORS.get(name)
    if operator is None and name.endswith(_IF_EXISTS):
        operator = OPERATORS.get(name[: -len(_IF_EXISTS)])
        if_exists = operator is not None
    if operator is None:
        raise MalformedPolicyDocument(f"{path}: unknown condition operator {name!r}")
    if operator.family is Family.NULL and (if_exists or qualifier is not None):
        raise MalformedPolicyDocument(f"{path}: Null takes neither IfExists nor ForAllValues/ForAnyValue")
    return operator, qualifier, if_exists


def _value_text(raw: object, where: str) -> str:
    # JSON numbers and booleans are accepted and read as their JSON text, as IAM does.
    if isinstance(raw, str):
        return raw
    if isinstance(raw, bool | int | float):
        return json.dumps(raw)
    raise MalformedPolicyDocument(f"{where}: condition values must be strings, numbers or booleans")


def parse_condition(
    operator_text: str,
    key: str,
    raw_values: object,
    *,
    path: str,
    allow_variables: bool,
) -> Condition:
    """Validate one operator/key/values triple and precompile it."""
    operator, qualifier, if_exists = parse_operator(operator_text, path)
    where = f"{path}.{key}"
    if not _CONDITION_KEY.fullmatch(key):
        raise MalformedPolicyDocument(f"{where}: condition key must look like service:name")
    if isinstance(raw_values, list):
        if not raw_values:
            raise MalformedPolicyDocument(f"{where}: empty list of condition values")
        texts = [_value_text(item, where) for item in raw_values]
    else:
        texts = [_value_text(raw_values, where)]
    family = operator.family
    values: list[object] = []
    templates: list[Template] = []
    if family is Family.STRING or family is Family.ARN:
        for text in texts:
            template = parse_template(text, allow_variables=allow_variables, path=where)
            templates.append(template)
            values.append(text)
    else:
        if allow_variables and any("${" in text for text in texts):
            raise MalformedPolicyDocument(
                f"{where}: policy variables are only allowed in String and Arn condition operators"
            )
        values = [_parse_value(family, text, where) for text in texts]
        templates = [plain_template(text) for text in texts]
    needs_context = any(template.has_variables for template in templates)
    static = None
    if family is not Family.NULL and not needs_context:
        static = _static_test(operator, tuple(values), tuple(templates))
    return Condition(
        operator_text=operator_text,
        operator=operator,
        qualifier=qualifier,
        if_exists=if_exists,
        key=key,
        lookup_key=key.lower(),
        values=tuple(values),
        templates=tuple(templates) if needs_context else (),
        static_test=static,
    )


# How a policy value of each family but String and Arn is read, and how a value that does
# not read is refused.
_VALUE_PARSERS: Mapping[Family, tuple[Callable[[str], object | None], str]] = {
    Family.NUMERIC: (_values.parse_number, "is not a number"),
    Family.DATE: (_values.parse_date, "is not an ISO 8601 date or a number of epoch seconds"),
    Family.BOOL: (_values.parse_bool, 'is neither "true" nor "false"'),
    Family.NULL: (_values.parse_bool, 'is neither "true" nor "false"'),
    Family.BINARY: (_values.parse_base64, "is not base64"),
    Family.IP: (_values.parse_network, "is not an IPv4 or IPv6 address or CIDR block"),
}


def _parse_value(family: Family, text: str, where: str) -> object:
    parse, not_a_value = _VALUE_PARSERS[family]
    value = parse(text)
    if value is None:
        raise MalformedPolicyDocument(f"{where}: {text!r} {not_a_value}")
    return value
