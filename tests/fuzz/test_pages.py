"""Fuzz every route the app serves (pages, well-known documents, the endpoints above too): random
query strings and form posts, every method, with and without a browser session.

Every answer is below 500 and carries no traceback."""

from __future__ import annotations

import re
from urllib.parse import quote

from flask import Flask
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from tests.fuzz.conftest import FuzzBroker
from tests.fuzz.support import fuzz_settings, hostile_text, no_server_error, tried

_VARIABLE = re.compile(r"<(?:[a-z]+:)?([a-z_]+)>")


def _rules(app: Flask) -> list[tuple[str, str]]:
    """(method, rule) of every route; rule variables stay as ``<name>``."""
    found = set()
    for rule in app.url_map.iter_rules():
        for method in rule.methods or ():
            if method not in ("HEAD", "OPTIONS"):
                found.add((method, rule.rule))
    return sorted(found)


FIELD_NAMES = [
    "provider",
    "next",
    "role_arn",
    "duration",
    "csrf_token",
    "request",
    "after",
    "user_code",
    "action",
    "SAMLResponse",
    "RelayState",
    "Action",
    "Version",
]
fields = st.lists(st.tuples(st.one_of(st.sampled_from(FIELD_NAMES), hostile_text), hostile_text), max_size=5)


def _path(rule: str, values: list[str]) -> str:
    pieces = iter(values)
    return _VARIABLE.sub(lambda _: quote(next(pieces, "x"), safe=""), rule)


@fuzz_settings(200)
@given(
    route_index=st.integers(min_value=0, max_value=10_000),
    query=fields,
    form=fields,
    variables=st.lists(hostile_text, min_size=2, max_size=2),
    signed_in=st.booleans(),
)
def test_every_route(
    fuzz_broker: FuzzBroker,
    route_index: int,
    query: list[tuple[str, str]],
    form: list[tuple[str, str]],
    variables: list[str],
    signed_in: bool,
) -> None:
    routes = _rules(fuzz_broker.app)
    method, rule = routes[route_index % len(routes)]
    client = fuzz_broker.signed_in() if signed_in else fuzz_broker.anonymous()
    data = MultiDict(form) if method in ("POST", "PUT", "PATCH") else None
    response = client.open(_path(rule, variables), method=method, query_string=MultiDict(query), data=data)
    tried("pages (every route)")
    no_server_error(response, f"{method} {rule}")


def test_the_routes_fuzzed_include_every_surface(fuzz_broker: FuzzBroker) -> None:
    routes = _rules(fuzz_broker.app)
    for route in [("POST", "/"), ("POST", "/saml/acs"), ("GET", "/cli/authorize"), ("POST", "/v1/decisions")]:
        assert route in routes
