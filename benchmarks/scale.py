"""What a sign-in costs against the number of roles in the database (100, 1k, 10k, 100k).

One database per size, filled directly (bulk INSERTs, seconds even at 100k): roles spread over
accounts of 100 roles each, most trusting their own account's IdP, some an AWS account or a
service, each trust policy a distinct text; in the signing-in account exactly two roles trust the
signing-in provider. A sign-in is what the ACS does from a validated assertion on: the sign-in
read (roles offered), the web session written, then the role page as the browser gets it (the
web session loaded, the page rendered). The signature check of the SAMLResponse is left out: it
costs the same whatever the database holds.

Sizes run in interleaved rounds (each round signs in a few times at every size, so drift on a
shared machine hits all sizes alike). Printed per size: p50 over every sign-in, the spread of the
round medians, SQL statements a sign-in runs, and the web session's size; then
p50(largest)/p50(smallest), whose target is <= 1.5. Nothing asserts on time.

Run: ``.venv/bin/python benchmarks/scale.py`` (SQLite), ``--postgres [URL]`` for PostgreSQL,
``--role-attribute`` for an assertion that carries the AWS Role attribute, ``--profile 10000`` for
cProfile's hot spots at one size, ``--sizes 100,1000`` and ``--rounds``/``--per-round`` to adjust.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import pstats
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import event, insert, text

from broker.crypto.keys import ensure_keys
from broker.saml.assertion import ROLE_ATTRIBUTE, ROLE_SESSION_NAME_ATTRIBUTE, Assertion
from broker.services.audit import ClientInfo
from broker.services.federation.acs import SignedInBrowser
from broker.services.federation.sessions import open_browser_session
from broker.services.federation.sign_in import read_sign_in
from broker.services.runtime import Runtime
from broker.services.setup import initialise
from broker.settings import Settings
from broker.store import federation as federation_store
from broker.store import models
from broker.store.federation import ProviderRecord
from broker.web import saml_routes
from broker.web.app import create_app

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.support.brokers import POSTGRES_URL, postgres_schema

SIGNING_IN_ACCOUNT = "123456789012"
PROVIDER_NAME = "corp"
PROVIDER_ARN = f"arn:aws:iam::{SIGNING_IN_ACCOUNT}:saml-provider/{PROVIDER_NAME}"
ROLES_PER_ACCOUNT = 100
NOW = dt.datetime.now(dt.UTC)


def _trust(principal: dict[str, str], action: str, condition: dict[str, Any] | None = None) -> str:
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": principal, "Action": action}
    if condition:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def _other_trust(index: int, account: str, acs_url: str) -> str:
    """A role that does not trust the signing-in provider; the text differs for every role."""
    kind = index % 10
    if kind < 7:  # its own account's IdP, for members of a group of its own
        return _trust(
            {"Federated": f"arn:aws:iam::{account}:saml-provider/idp"},
            "sts:AssumeRoleWithSAML",
            {"StringEquals": {"SAML:aud": acs_url}, "ForAnyValue:StringEquals": {"saml:groups": f"team-{index}"}},
        )
    if kind < 9:
        return _trust(
            {"AWS": f"arn:aws:iam::{account}:root"},
            "sts:AssumeRole",
            {"StringEquals": {"sts:ExternalId": f"x-{index}"}},
        )
    return _trust({"Service": "ec2.amazonaws.com"}, "sts:AssumeRole", {"StringEquals": {"aws:SourceAccount": account}})


def _role(account: str, name: str, index: int, trust_policy: str) -> dict[str, Any]:
    return {
        "account_id": account,
        "name": name,
        "name_key": name.lower(),
        "path": "/",
        "role_id": f"AROA{index:016d}",
        "arn": f"arn:aws:iam::{account}:role/{name}",
        "trust_policy": trust_policy,
        "description": "",
        "max_session_duration": 3600,
        "permissions_boundary_arn": None,
        "created_at": NOW,
        "tags": {},
    }


def fill(runtime: Runtime, size: int) -> float:
    """``size`` roles, two of them trusting the signing-in provider; the seconds the index backfill took."""
    acs_url = runtime.settings.acs_url
    accounts = [SIGNING_IN_ACCOUNT] + [f"{200000000000 + n:012d}" for n in range(max(1, size // ROLES_PER_ACCOUNT))]
    trusting = _trust({"Federated": PROVIDER_ARN}, "sts:AssumeRoleWithSAML", {"StringEquals": {"SAML:aud": acs_url}})
    roles = [_role(SIGNING_IN_ACCOUNT, name, n, trusting) for n, name in enumerate(("Developer", "ReadOnly"))]
    for index in range(2, size):
        account = accounts[1 + index % (len(accounts) - 1)]
        roles.append(_role(account, f"role-{index}", index, _other_trust(index, account, acs_url)))
    with runtime.db.engine.begin() as connection:
        missing = [a for a in accounts if a != runtime.settings.default_account_id]
        connection.execute(insert(models.Account), [{"id": a, "name": "", "created_at": NOW} for a in missing])
        connection.execute(
            insert(models.SamlProvider),
            [
                {
                    "account_id": SIGNING_IN_ACCOUNT,
                    "name": PROVIDER_NAME,
                    "name_key": PROVIDER_NAME,
                    "arn": PROVIDER_ARN,
                    "entity_id": "https://idp.example/",
                    "metadata_xml": "<EntityDescriptor/>",
                    "created_at": NOW,
                    "tags": {},
                    "options": {},
                    "source": "api",
                }
            ],
        )
        for start in range(0, len(roles), 10_000):
            connection.execute(insert(models.Role), roles[start : start + 10_000])
    _analyze(runtime)
    try:
        from broker.store import trust_index  # absent before the index: then nothing to backfill
    except ImportError:
        return 0.0
    started = time.perf_counter()
    with runtime.db.transaction() as tx:
        trust_index.index_unindexed_roles(tx)
    elapsed = time.perf_counter() - started
    _analyze(runtime)
    return elapsed


def _analyze(runtime: Runtime) -> None:
    """PostgreSQL's planner statistics, as autovacuum would have them after a bulk load."""
    if runtime.db.engine.dialect.name == "postgresql":
        with runtime.db.engine.begin() as connection:
            connection.execute(text("ANALYZE"))


def assertion(acs_url: str, role_attribute: bool) -> Assertion:
    attributes = {"groups": ["engineers"], ROLE_SESSION_NAME_ATTRIBUTE: ["alice"]}
    if role_attribute:
        roles = [f"arn:aws:iam::{SIGNING_IN_ACCOUNT}:role/{name}" for name in ("Developer", "ReadOnly", "Missing")]
        attributes[ROLE_ATTRIBUTE] = [f"{arn},{PROVIDER_ARN}" for arn in roles]
    return Assertion(
        issuer="https://idp.example/",
        assertion_id="_" + uuid.uuid4().hex,
        response_id="_" + uuid.uuid4().hex,
        in_response_to=None,
        subject="alice@example.com",
        name_id_format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
        recipient=acs_url,
        audiences=("https://broker.example/saml/metadata",),
        not_on_or_after=NOW + dt.timedelta(days=1),
        issue_instant=NOW,
        attributes=attributes,
        digest="0" * 64,
    )


class Size:
    """One database of ``size`` roles and the app over it; :meth:`sign_in` is the timed step."""

    def __init__(self, runtime: Runtime, size: int, role_attribute: bool) -> None:
        self.runtime = runtime
        self.size = size
        self.backfill_seconds = fill(runtime, size)
        self.app: Flask = create_app(runtime=runtime)
        self.assertion = assertion(runtime.settings.acs_url, role_attribute)
        self.client = ClientInfo(source_ip="127.0.0.1", user_agent="scale", request_id="scale")
        with runtime.db.transaction() as tx:
            provider = federation_store.provider_by_arn(tx, PROVIDER_ARN)
        assert provider is not None
        self.provider: ProviderRecord = provider
        self.session_bytes = 0

    def sign_in(self) -> None:
        runtime = self.runtime
        with runtime.db.transaction() as tx:
            sign_in = read_sign_in(tx, runtime.settings, self.assertion, self.provider, None)
            token, session = open_browser_session(runtime, tx, sign_in, runtime.now())
        with self.app.test_request_context("/saml/acs", method="POST"):
            answer = saml_routes._after_sign_in(SignedInBrowser(token, session, sign_in), self.client)
        if answer.status_code != 303 or answer.headers.get("Location") != "/saml/roles":
            raise RuntimeError(f"the ACS did not send the browser to the role page (HTTP {answer.status_code})")
        # The browser follows the redirect (post/redirect/get): the role page, from the web session.
        with self.app.test_request_context("/saml/roles"):
            page = saml_routes.roles_page(sign_in, session.csrf_token)
        body = page.get_data(as_text=True)
        if page.status_code != 200 or body.count('name="role_arn"') != 2:
            raise RuntimeError(f"the role page is not the one expected (HTTP {page.status_code})")
        self.session_bytes = len(json.dumps(sign_in.stored(), default=str))

    def statements(self) -> int:
        """SQL statements of one sign-in: deterministic, unlike its time."""
        seen = [0]

        def counted(*_args: Any) -> None:
            seen[0] += 1

        event.listen(self.runtime.db.engine, "before_cursor_execute", counted)
        try:
            self.sign_in()
        finally:
            event.remove(self.runtime.db.engine, "before_cursor_execute", counted)
        return seen[0]


@contextmanager
def database(workdir: Path, size: int, postgres: str | None) -> Iterator[str]:
    if postgres is None:
        yield f"sqlite:///{workdir / f'scale-{size}.db'}"
        return
    with postgres_schema(postgres) as url:
        yield url


def timed(step: Callable[[], None]) -> float:
    started = time.perf_counter()
    step()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000,100000")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--per-round", type=int, default=5)
    parser.add_argument("--postgres", nargs="?", const=POSTGRES_URL, default=None, metavar="URL")
    parser.add_argument("--role-attribute", action="store_true")
    parser.add_argument("--profile", type=int, default=None, metavar="SIZE", help="cProfile sign-ins at this size")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        ensure_keys(workdir / "certs", common_name="benchmark")
        runs: dict[int, Size] = {}
        for size in sizes:
            settings = Settings(
                base_url="http://127.0.0.1:9",
                database_url=stack.enter_context(database(workdir, size, args.postgres)),
                certs_dir=str(workdir / "certs"),
                metadata_dir=str(workdir / "metadata"),
                default_account_id=SIGNING_IN_ACCOUNT,
            )
            runtime = Runtime.from_settings(settings)
            stack.callback(runtime.db.dispose)
            initialise(runtime)
            runs[size] = Size(runtime, size, args.role_attribute)
            runs[size].sign_in()  # warm: caches filled, templates compiled
        samples: dict[int, list[float]] = {size: [] for size in sizes}
        round_medians: dict[int, list[float]] = {size: [] for size in sizes}
        for _ in range(args.rounds):
            for size in sizes:
                times = [timed(runs[size].sign_in) for _ in range(args.per_round)]
                samples[size] += times
                round_medians[size].append(statistics.median(times))
        backend = "PostgreSQL" if args.postgres else "SQLite"
        attribute = "with" if args.role_attribute else "without"
        print(f"sign-in (validated assertion -> role page), {backend}, assertion {attribute} the Role attribute")
        print(f"{args.rounds} interleaved rounds x {args.per_round} sign-ins per size; 2 roles trust the provider")
        print(f"{'roles':>8} {'p50 ms':>10} {'round medians ms':>26} {'SQL':>5} {'session':>10} {'backfill s':>11}")
        for size in sizes:
            run = runs[size]
            p50 = statistics.median(samples[size]) * 1000
            spread = f"{min(round_medians[size]) * 1000:.1f} .. {max(round_medians[size]) * 1000:.1f}"
            print(
                f"{size:>8,} {p50:>10.2f} {spread:>26} {run.statements():>5} "
                f"{run.session_bytes:>9,}B {run.backfill_seconds:>11.2f}"
            )
        ratio = statistics.median(samples[sizes[-1]]) / statistics.median(samples[sizes[0]])
        print(f"p50({sizes[-1]:,}) / p50({sizes[0]:,}) = {ratio:.2f}   (target <= 1.5)")
        if args.profile is not None:
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(max(args.per_round, 3)):
                runs[args.profile].sign_in()
            profiler.disable()
            for order in ("tottime", "cumulative"):
                print(f"\ncProfile, {max(args.per_round, 3)} sign-ins at {args.profile:,} roles, by {order}:")
                pstats.Stats(profiler).sort_stats(order).print_stats(12)


if __name__ == "__main__":
    main()
