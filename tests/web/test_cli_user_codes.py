"""Guessing device user codes (RFC 8628 5.1 and 6.1), attacked through the verification page.

The red-team review guessed codes at about 350 a second with no limit and nothing in the trail.
Now each wrong code is audited as ``VerifyUserCode`` with a precise reason, counts against the
browser session and the client address that typed it, and a few lock both out; a live code hit
by a locked-out guesser, or a forged decision on it, counts against that device authorization,
which a few such strikes lock for good.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from broker.services.cli_auth import user_codes
from broker.services.runtime import Runtime
from broker.store import models
from tests.flows.test_cli_protocol import (
    READ_ONLY,
    Clock,
    audit,
    client,
    clock,
    poll,
    runtime,
    signed_in,
    start_device,
)
from tests.support.demo_flow import csrf_token

__all__ = ["client", "clock", "runtime"]  # fixtures: a demo broker on SQLite and PostgreSQL

# Well-formed codes that no device authorization holds (the broker draws at random: a clash with
# the one drawn in a test would need a 1-in-2.5e10 draw).
WRONG = ["ZXWV-TSRB", "ZXWV-TSRC", "ZXWV-TSRD", "ZXWV-TSRF", "ZXWV-TSRG", "ZXWV-TSRH", "ZXWV-TSRJ"]


def type_code(client: FlaskClient, user_code: str) -> Any:
    page = client.get("/cli/device/verify")
    return client.post(
        "/cli/device/verify", data={"user_code": user_code, "action": "lookup", "csrf_token": csrf_token(page.text)}
    )


def guesses(runtime: Runtime) -> list[str]:
    return [e["errorCode"] for e in audit(runtime, "VerifyUserCode")]


def device_status(runtime: Runtime, user_code: str) -> str:
    with runtime.db.transaction() as session:
        status = session.scalars(
            select(models.DeviceAuthorization.status).where(
                models.DeviceAuthorization.user_code == user_code.replace("-", "")
            )
        ).one()
        return str(status)


def from_address(runtime: Runtime, address: str) -> FlaskClient:
    from broker.web.app import create_app

    other = create_app(runtime=runtime).test_client()
    other.environ_base["REMOTE_ADDR"] = address
    return other


def test_each_wrong_code_is_audited_with_its_reason(client: FlaskClient, runtime: Runtime, clock: Clock) -> None:
    signed_in(client)
    denied = start_device(client)
    expired = start_device(client)
    page = client.get(f"/cli/device/verify?user_code={denied['user_code']}")
    decided = client.post(
        "/cli/device/verify",
        data={"user_code": denied["user_code"], "action": "deny", "csrf_token": csrf_token(page.text)},
    )
    assert "Device denied" in decided.text

    unknown = type_code(client, WRONG[0])
    assert unknown.status_code == 404 and 'data-code="UnknownUserCode"' in unknown.text
    assert 'aria-invalid="true"' in unknown.text and "not valid or has expired" in unknown.text
    malformed = type_code(client, "ZXWV-TSR1")
    assert malformed.status_code == 400 and 'data-code="MalformedUserCode"' in malformed.text
    used = type_code(client, denied["user_code"])
    assert used.status_code == 404 and 'data-code="UsedUserCode"' in used.text
    clock.offset = dt.timedelta(minutes=10, seconds=1)
    late = client.get(f"/cli/device/verify?user_code={expired['user_code']}")  # the link counts too
    assert late.status_code == 404 and 'data-code="ExpiredUserCode"' in late.text

    assert guesses(runtime) == ["UnknownUserCode", "MalformedUserCode", "UsedUserCode", "ExpiredUserCode"]
    events = audit(runtime, "VerifyUserCode")
    assert all(e["userIdentity"]["userName"] == "demo-bob" for e in events)
    assert "no such code" in events[0]["errorMessage"] and "not counted" in events[1]["errorMessage"]
    assert "already denied" in events[2]["errorMessage"] and "expired" in events[3]["errorMessage"]
    # A malformed code cannot hit one, so it is not counted; the three others are.
    assert events[0]["additionalEventData"]["wrongCodes"] == {"session": 1, "address": 1}
    assert events[3]["additionalEventData"]["wrongCodes"] == {"session": 3, "address": 3}
    assert "wrongCodes" not in events[1]["additionalEventData"]
    # What was typed is not in the trail: a live code there would be a code anyone reading it could use.
    for e in events:
        assert denied["user_code"] not in str(e) and WRONG[0] not in str(e), e


def test_a_few_wrong_codes_lock_the_session_out_even_of_the_right_one(
    client: FlaskClient, runtime: Runtime, clock: Clock
) -> None:
    signed_in(client)
    real = start_device(client, role=READ_ONLY)
    for wrong in WRONG[: user_codes.MAX_WRONG_CODES]:
        assert type_code(client, wrong).status_code == 404
    # The attacker's next guess is the right code: refused like any other, the hit not revealed.
    hit = type_code(client, real["user_code"])
    assert hit.status_code == 429 and 'data-code="TooManyUserCodeAttempts"' in hit.text
    assert "Try again in 15 min" in hit.text and "Approve a device?" not in hit.text
    forced = client.post(
        "/cli/device/verify",
        data={
            "user_code": real["user_code"],
            "action": "approve",
            "role_arn": READ_ONLY,
            "csrf_token": csrf_token(client.get("/cli/device/verify").text),
        },
    )
    assert forced.status_code == 429
    assert poll(client, real["device_code"]).json["error"] == "authorization_pending"
    events = audit(runtime, "VerifyUserCode")
    assert [e["errorCode"] for e in events] == ["UnknownUserCode"] * 5 + ["TooManyUserCodeAttempts"] * 2
    assert "now locked out (session, address)" in events[4]["errorMessage"]
    assert "locked out (address, session) until" in events[5]["errorMessage"]
    assert "the code typed was live" in events[5]["errorMessage"]
    assert events[5]["additionalEventData"]["deviceAuthorizationId"]

    # Two strikes on the live code (the hit, the forced approval): one short of locking it.
    assert device_status(runtime, real["user_code"]) == "pending"

    # The lockout ends (outliving the code): a new `broker login --device` then gets through.
    clock.offset = user_codes.WRONG_CODE_LOCKOUT + dt.timedelta(seconds=1)
    again = start_device(client)
    page = type_code(client, again["user_code"].lower())
    assert page.status_code == 200 and "Approve a device?" in page.text


def test_a_link_from_another_site_fills_in_the_code_and_counts_nothing(client: FlaskClient, runtime: Runtime) -> None:
    # An image or link on another site makes a signed-in browser send the GET; counted, five such
    # requests would lock the person (and everyone at their address) out of their own code.
    signed_in(client)
    real = start_device(client, role=READ_ONLY)
    for wrong in WRONG:
        page = client.get(
            "/cli/device/verify", query_string={"user_code": wrong}, headers={"Sec-Fetch-Site": "cross-site"}
        )
        assert page.status_code == 200 and f'value="{wrong}"' in page.text and "Approve a device?" not in page.text
    assert guesses(runtime) == []
    # Typed (or opened from the terminal's link, Sec-Fetch-Site: none) it is looked up as before.
    opened = client.get(
        "/cli/device/verify", query_string={"user_code": real["user_code"]}, headers={"Sec-Fetch-Site": "none"}
    )
    assert opened.status_code == 200 and "Approve a device?" in opened.text
    assert type_code(client, WRONG[0]).status_code == 404 and guesses(runtime) == ["UnknownUserCode"]


def test_the_lockout_follows_the_address_into_a_new_session_and_the_session_to_a_new_address(
    client: FlaskClient, runtime: Runtime
) -> None:
    signed_in(client)
    for wrong in WRONG[: user_codes.MAX_WRONG_CODES]:
        type_code(client, wrong)
    real = start_device(client)
    # A fresh sign-in from the same address (the test client's 127.0.0.1) is locked out too...
    fresh = signed_in(from_address(runtime, "127.0.0.1"), "alice")
    assert type_code(fresh, real["user_code"]).status_code == 429
    # ...and so is the locked session from another address.
    client.environ_base["REMOTE_ADDR"] = "192.0.2.7"
    assert type_code(client, real["user_code"]).status_code == 429
    # Someone else, elsewhere, is not.
    elsewhere = signed_in(from_address(runtime, "192.0.2.8"), "alice")
    assert type_code(elsewhere, real["user_code"]).status_code == 200


def test_the_lockout_holds_an_ipv6_client_in_every_address_of_its_network(
    client: FlaskClient, runtime: Runtime
) -> None:
    # An IPv6 client holds a whole /64: a fresh address per guess must not make a fresh guesser.
    signed_in(client)
    for n, wrong in enumerate(WRONG[: user_codes.MAX_WRONG_CODES]):
        client.environ_base["REMOTE_ADDR"] = f"2001:db8:5:6::{n + 1:x}"
        type_code(client, wrong)
    real = start_device(client)
    fresh = signed_in(from_address(runtime, "2001:db8:5:6:ffff::1"), "alice")
    assert type_code(fresh, real["user_code"]).status_code == 429
    elsewhere = signed_in(from_address(runtime, "2001:db8:5:7::1"), "alice")
    assert type_code(elsewhere, real["user_code"]).status_code == 200


def test_wrong_codes_spread_over_time_do_not_add_up(client: FlaskClient, runtime: Runtime, clock: Clock) -> None:
    signed_in(client)
    for wrong in WRONG[: user_codes.MAX_WRONG_CODES - 1]:
        type_code(client, wrong)
    clock.offset = user_codes.WRONG_CODE_WINDOW + dt.timedelta(seconds=1)
    assert type_code(client, WRONG[-1]).status_code == 404  # a new window: counted as the first
    real = start_device(client)
    assert type_code(client, real["user_code"]).status_code == 200
    assert audit(runtime, "VerifyUserCode")[-1]["additionalEventData"]["wrongCodes"]["address"] == 1


def test_forged_decisions_on_a_live_code_lock_it_for_good(client: FlaskClient, runtime: Runtime) -> None:
    signed_in(client)
    real = start_device(client, role=READ_ONLY)
    for _ in range(user_codes.MAX_DEVICE_STRIKES):
        forged = client.post(
            "/cli/device/verify", data={"user_code": real["user_code"], "action": "approve", "role_arn": READ_ONLY}
        )
        assert forged.status_code == 403 and "BadCsrf" in forged.text
    assert device_status(runtime, real["user_code"]) == "locked"
    strikes = audit(runtime, "ApproveDeviceAuthorization")
    assert [e["errorCode"] for e in strikes] == ["BadCsrf"] * 3
    assert [e["additionalEventData"]["deviceLocked"] for e in strikes] == [False, False, True]
    # The person's own attempt now fails, and the CLI is told why.
    mine = type_code(client, real["user_code"])
    assert mine.status_code == 404 and 'data-code="LockedUserCode"' in mine.text
    refused = poll(client, real["device_code"])
    assert refused.status_code == 400 and refused.json["error"] == "access_denied"
    assert "locked" in refused.json["error_description"]


def test_a_role_not_offered_is_a_strike_too(client: FlaskClient, runtime: Runtime) -> None:
    signed_in(client)
    real = start_device(client)
    csrf = csrf_token(client.get("/cli/device/verify").text)
    admin = "arn:aws:iam::123456789012:role/demo/DemoAdmin"
    for _ in range(user_codes.MAX_DEVICE_STRIKES):
        refused = client.post(
            "/cli/device/verify",
            data={"user_code": real["user_code"], "action": "approve", "role_arn": admin, "csrf_token": csrf},
        )
        assert refused.status_code == 403
    assert device_status(runtime, real["user_code"]) == "locked"
    assert [e["errorCode"] for e in audit(runtime, "ApproveDeviceAuthorization")] == ["RoleNotPermitted"] * 3
