"""Authenticating a request signed with a long-term key: what it reads and what it writes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import botocore.auth
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from sqlalchemy import event

from broker.services.audit import ClientInfo
from broker.services.auth import HttpRequest, authenticate
from broker.services.auth.authentication import KEY_USE_GRANULARITY
from broker.services.iam import access_keys, users
from broker.services.runtime import Runtime
from broker.services.setup import initialise
from broker.store.iam.credentials import access_key_of
from tests.support.brokers import make_runtime, make_settings

BODY = "Action=GetCallerIdentity&Version=2011-06-15"


@contextmanager
def statements(runtime: Runtime) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")):
            seen.append(statement)

    event.listen(runtime.db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", record)


def signed(
    key: str, secret: str, service: str, moment: dt.datetime, base_url: str, monkeypatch: pytest.MonkeyPatch
) -> HttpRequest:
    request = AWSRequest(
        method="POST",
        url=f"{base_url}/",
        data=BODY,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    # botocore signs at its own clock's time; the broker's clock is the test's.
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: moment.replace(tzinfo=None))
    SigV4Auth(Credentials(key, secret), service, "us-east-1").add_auth(request)
    return HttpRequest(
        method="POST",
        path="/",
        query_string="",
        headers={**dict(request.headers.items()), "Host": base_url.split("://", 1)[1]},
        body=BODY.encode(),
        secure=False,
        client=ClientInfo("192.0.2.1", "tests", "r"),
    )


def test_a_busy_key_records_its_use_once_per_granularity(
    tmp_path: Path, keys_dir: Path, sqlite_url: str, base_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)]
    runtime = make_runtime(make_settings(tmp_path, keys_dir, sqlite_url, base_url))
    runtime.clock = lambda: now[0]
    try:
        initialise(runtime)
        account = runtime.settings.default_account_id
        with runtime.db.transaction() as tx:
            user = users.create_user(tx, account, "busy", "/", now[0])
            key, secret = access_keys.create_access_key(tx, user, runtime.box, now[0])

        def call(service: str) -> list[str]:
            request = signed(key.access_key_id, secret, service, now[0], base_url, monkeypatch)
            with statements(runtime) as seen, runtime.db.transaction() as tx:
                caller, _ = authenticate(
                    runtime, tx, request.method, request.path, request.query_string, request.headers, request.body
                )
                assert caller.access_key_id == key.access_key_id
            return seen

        def last_used() -> tuple[dt.datetime | None, str | None]:
            with runtime.db.transaction() as tx:
                found = access_key_of(tx, key.access_key_id)
                assert found is not None
                return found.last_used_date, found.last_used_service

        assert len(call("sts")) == 2  # the key with its user, then its first recorded use
        assert last_used() == (now[0], "sts")
        now[0] += dt.timedelta(minutes=5)
        # The key's account is now known: its generation stamp, then the key into the cache.
        assert len(call("sts")) == 2
        assert len(call("sts")) == 1  # warm, the same service within the hour: the stamp only
        assert last_used() == (now[0] - dt.timedelta(minutes=5), "sts")
        assert len(call("iam")) == 2  # another service is news
        assert last_used() == (now[0], "iam")
        now[0] += KEY_USE_GRANULARITY
        assert len(call("iam")) == 2  # an hour on, the time is rewritten
        assert last_used() == (now[0], "iam")
        assert len(call("iam")) == 1
    finally:
        runtime.db.dispose()
