"""What service control policies cost a decision, end to end, printed side by side.

The decision API (``POST /v1/decisions``, bearer session token) through the Flask app in process,
on SQLite, for two role sessions with the same role policy:

- baseline: a role in an account outside any organization;
- member: the same role in a member account three OUs below the root, with SCPs enabled and two
  SCPs at every level (FullAWSAccess plus a Deny list), so every decision reads and evaluates the
  whole chain.

Both runs alternate in the same process. Run: ``.venv/bin/python benchmarks/decision_api.py
[--seconds 3]``. Nothing asserts on time; the ratio is printed next to the numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from broker.crypto.keys import ensure_keys
from broker.iam import orgs
from broker.services.credentials import issue_role_credentials
from broker.services.iam import principals, roles
from broker.services.orgs import policies as scps
from broker.services.orgs import structure
from broker.services.runtime import Runtime
from broker.services.setup import initialise
from broker.settings import Settings
from broker.store.iam.accounts import ensure_account
from broker.web.app import create_app

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.support.statements import listening_to_drivers, request_statements

ROLE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"},
        {"Effect": "Allow", "Action": "sqs:*", "Resource": "arn:aws:sqs:*:*:jobs-*"},
    ],
}


def _trust(account: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"}
            ],
        }
    )


def _session_token(runtime: Runtime, account: str) -> str:
    with runtime.db.transaction() as session:
        role = roles.create_role(
            session,
            account,
            name="Reader",
            trust_policy=_trust(account),
            path=None,
            description=None,
            max_session_duration=None,
            permissions_boundary=None,
            tags=None,
            now=runtime.now(),
        )
        principals.put_inline(session, "Role", account, "Reader", "inline", json.dumps(ROLE_POLICY))
        credentials = issue_role_credentials(
            runtime, role, session_name="bench", duration_seconds=3600, auth_type="assumed-role"
        )
    return credentials.session_token


def _member_account(runtime: Runtime, management: str) -> str:
    now = runtime.now()
    with runtime.db.transaction() as session:
        organization = structure.create_organization(session, management, "ALL", now)
        parent = structure.root_of(session, organization).id  # SCPs start enabled (all features)
        levels = [parent]
        for name in ("Workloads", "Production", "Payments"):
            parent = structure.create_organizational_unit(session, management, parent, name, None, now)[1].id
            levels.append(parent)
        request = structure.create_account(
            session, management, email="bench@example.com", account_name="Bench", role_name=None, tags=None, now=now
        )
        assert request.account_id is not None
        member = request.account_id
        structure.move_account(session, management, member, levels[0], parent)
        for index, target in enumerate([*levels, member]):
            content = json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Deny", "Action": [f"ec2:Action{index}", "iam:*"], "Resource": "*"},
                        {
                            "Effect": "Deny",
                            "Action": "s3:*",
                            "Resource": "*",
                            "Condition": {"StringNotEquals": {"aws:RequestedRegion": ["eu-west-1", "us-east-1"]}},
                        },
                    ],
                }
            )
            _, policy = scps.create_policy(
                session,
                management,
                name=f"Guardrail{index}",
                description="",
                content=content,
                policy_type=orgs.SERVICE_CONTROL_POLICY,
                tags=None,
                now=now,
            )
            scps.attach_policy(session, management, policy.id, target)
    return member


def _decide(client: Any, token: str, body: bytes) -> None:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    response = client.post("/v1/decisions", data=body, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["decision"] == "Allow", response.get_json()


def _rate(client: Any, token: str, body: bytes, seconds: float) -> float:
    count = 0
    deadline = time.perf_counter() + seconds
    start = time.perf_counter()
    while time.perf_counter() < deadline:
        _decide(client, token, body)
        count += 1
    return count / (time.perf_counter() - start)


def _statements(client: Any, token: str, body: bytes, count: int = 20) -> float:
    """SQL statements per decision (transaction control aside), heard at the driver: deterministic,
    unlike the rate on a shared machine."""
    with request_statements() as seen:
        for _ in range(count):
            _decide(client, token, body)
    return len(seen) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir, ExitStack() as stack:
        certs = Path(workdir) / "certs"
        ensure_keys(certs, common_name="benchmark")
        settings = Settings(
            base_url="http://127.0.0.1:9",
            database_url=f"sqlite:///{workdir}/broker.db",
            certs_dir=str(certs),
            metadata_dir=str(Path(workdir) / "metadata"),
        )
        stack.enter_context(listening_to_drivers())  # before the first connection opens
        runtime = Runtime.from_settings(settings)
        initialise(runtime)
        management = settings.default_account_id
        outside = "210987654321"
        with runtime.db.transaction() as session:
            ensure_account(session, outside, now=runtime.now())
        baseline_token = _session_token(runtime, outside)
        member_token = _session_token(runtime, _member_account(runtime, management))
        client = create_app(runtime=runtime).test_client()
        # The region the SCPs allow: both decisions are Allows (an answered Deny is also an audit write).
        query = {"action": "s3:GetObject", "resource": "arn:aws:s3:::reports/q3.pdf"}
        body = json.dumps({**query, "context": {"aws:RequestedRegion": "us-east-1"}}).encode()
        # Warm up both, then alternate so drift hits both alike.
        _rate(client, baseline_token, body, 0.3)
        _rate(client, member_token, body, 0.3)
        baseline = member = 0.0
        rounds = 6
        for _ in range(rounds):
            baseline += _rate(client, baseline_token, body, args.seconds / rounds) / rounds
            member += _rate(client, member_token, body, args.seconds / rounds) / rounds
        baseline_sql = _statements(client, baseline_token, body)
        member_sql = _statements(client, member_token, body)
        print("decision API, bearer session token, Flask in process, SQLite")
        print(f"   outside any organization        {baseline:10,.0f} decisions/s   {baseline_sql:5.1f} SQL statements")
        print(f"   member account, 4 SCP levels    {member:10,.0f} decisions/s   {member_sql:5.1f} SQL statements")
        print(f"   ratio member/baseline          {member / baseline:10.2f}x   (target >= 0.75)")
        runtime.db.dispose()


if __name__ == "__main__":
    main()
