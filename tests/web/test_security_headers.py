"""Every response carries the security headers; a script runs only on a page that asked for a
nonce, and only the script that carries it. An answer without a script allows none."""

from __future__ import annotations

import re
from pathlib import Path

from broker.demo.setup import prepare_demo, seed_demo
from broker.services.runtime import Runtime
from broker.web.app import create_app
from tests.support.brokers import make_runtime, make_settings
from tests.support.demo_flow import demo_sign_in

NONCE = re.compile(r"script-src 'nonce-([A-Za-z0-9_-]{22})'")


def test_a_page_with_a_script_names_its_nonce_and_other_answers_allow_no_script(
    tmp_path: Path, keys_dir: Path, sqlite_url: str, base_url: str
) -> None:
    settings = make_settings(tmp_path, keys_dir, sqlite_url, base_url, demo=True)
    prepare_demo(Runtime.from_settings(settings))
    runtime = make_runtime(settings)
    seed_demo(runtime)
    client = create_app(runtime=runtime).test_client()

    roles = demo_sign_in(client, "alice", "alice-demo")  # the role page: its filter is a script
    assert roles.status_code == 200 and "<script" in roles.get_data(as_text=True)
    found = NONCE.search(roles.headers["Content-Security-Policy"])
    assert found is not None, roles.headers["Content-Security-Policy"]
    assert f'nonce="{found.group(1)}"' in roles.get_data(as_text=True)
    again = NONCE.search(client.get("/saml/roles").headers["Content-Security-Policy"])
    assert again is not None and again.group(1) != found.group(1)  # a fresh nonce per response

    answers = (
        client.get("/healthz"),
        client.post("/", data="Action=GetCallerIdentity&Version=2011-06-15"),  # refused: not signed
        client.get("/saml/login"),  # an error page
    )
    for answer in answers:
        policy = answer.headers["Content-Security-Policy"]
        assert "script-src 'none'" in policy and "nonce-" not in policy, (answer.request.path, policy)
        assert "<script" not in answer.get_data(as_text=True)
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert answer.headers["X-Request-Id"]
    runtime.db.dispose()
