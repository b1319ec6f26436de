"""Policy engine throughput, printed side by side.

1. This engine against moto's ``moto.iam.access_control.IAMPolicy`` on small
   generated identity policies that moto can express (no conditions, no ``?``);
   the two must agree on every decision before any timing is printed.
2. A realistic account: 50 roles, 10 managed policies of 20 statements with
   wildcards and conditions, SCPs on three levels, compiled policies cached
   per role as the broker keeps them.

The comparison with moto alternates the two engines over seven rounds and prints the median of
the rounds' ratios. Run: ``.venv/bin/python benchmarks/policy_eval.py [--seconds 2]``. Nothing
here asserts on time; targets are printed next to the numbers.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from broker.policy import Effect, PolicyKind, PolicySet, Principal, Request, evaluate, parse_policy

ACCOUNT = "111122223333"
# Rounds of the side-by-side comparison with moto (each engine runs once per round).
ROUNDS = 7
SERVICES = {
    "s3": ["GetObject", "PutObject", "DeleteObject", "ListBucket", "GetBucketPolicy", "PutBucketPolicy"],
    "ec2": ["RunInstances", "StartInstances", "StopInstances", "DescribeInstances", "CreateTags"],
    "iam": ["GetRole", "PassRole", "CreateRole", "ListRoles", "GetUser", "CreateAccessKey"],
    "dynamodb": ["GetItem", "PutItem", "Query", "Scan", "DeleteItem"],
    "sqs": ["SendMessage", "ReceiveMessage", "DeleteMessage", "GetQueueUrl"],
    "lambda": ["InvokeFunction", "GetFunction", "UpdateFunctionCode", "ListFunctions"],
    "logs": ["PutLogEvents", "CreateLogStream", "DescribeLogGroups"],
    "kms": ["Decrypt", "Encrypt", "GenerateDataKey", "DescribeKey"],
}
ACTIONS = [f"{service}:{name}" for service, names in SERVICES.items() for name in names]
RESOURCES = {
    "s3": [
        "arn:aws:s3:::app-data/{team}/report.csv",
        "arn:aws:s3:::app-logs/2024/01/01/x.gz",
        "arn:aws:s3:::app-data",
    ],
    "ec2": ["arn:aws:ec2:eu-west-1:111122223333:instance/i-0abc{n}"],
    "iam": ["arn:aws:iam::111122223333:role/app/{team}-worker", "arn:aws:iam::111122223333:user/u{n}"],
    "dynamodb": ["arn:aws:dynamodb:eu-west-1:111122223333:table/{team}-orders"],
    "sqs": ["arn:aws:sqs:eu-west-1:111122223333:{team}-jobs"],
    "lambda": ["arn:aws:lambda:eu-west-1:111122223333:function:{team}-api"],
    "logs": ["arn:aws:logs:eu-west-1:111122223333:log-group:/app/{team}:*"],
    "kms": ["arn:aws:kms:eu-west-1:111122223333:key/{n}"],
}
TEAMS = ["red", "blue", "green", "ops", "data"]


def rate(function: Callable[[], Any], items: int, seconds: float) -> float:
    """Calls per second of ``function`` (each call makes ``items`` decisions)."""
    function()  # warm caches, as a long-running server would be
    calls = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        function()
        calls += 1
    return calls * items / (time.perf_counter() - start)


# -- 1. against moto --------------------------------------------------------------------


def moto_case(rng: random.Random) -> tuple[str, list[tuple[str, str]]]:
    statements = []
    for _ in range(rng.randint(1, 4)):
        service = rng.choice(list(SERVICES))
        names = SERVICES[service]
        action = rng.choice([f"{service}:{rng.choice(names)}", f"{service}:*", f"{service}:{rng.choice(names)[:3]}*"])
        resource = rng.choice(["*", f"arn:aws:{service}:*", rng.choice(RESOURCES[service]).format(team="red", n=1)])
        statements.append(
            {"Effect": rng.choice(["Allow", "Allow", "Deny"]), "Action": [action], "Resource": [resource]}
        )
    text = json.dumps({"Version": "2012-10-17", "Statement": statements})
    requests = []
    for _ in range(8):
        service = rng.choice(list(SERVICES))
        action = f"{service}:{rng.choice(SERVICES[service])}"
        requests.append((action, rng.choice(RESOURCES[service]).format(team=rng.choice(["red", "blue"]), n=1)))
    return text, requests


def compare_with_moto(seconds: float) -> None:
    try:
        from moto.iam.access_control import IAMPolicy, PermissionResult
    except ImportError:
        print("moto is not installed; skipping the comparison")
        return
    rng = random.Random(7)
    cases = [moto_case(rng) for _ in range(200)]
    principal = Principal(arn=f"arn:aws:iam::{ACCOUNT}:user/alice")
    ours = [(PolicySet(identity=(parse_policy(text, PolicyKind.MANAGED),)), requests) for text, requests in cases]
    theirs = [(IAMPolicy(text), requests) for text, requests in cases]
    expected = {
        PermissionResult.PERMITTED: Effect.ALLOW,
        PermissionResult.DENIED: Effect.EXPLICIT_DENY,
        PermissionResult.NEUTRAL: Effect.IMPLICIT_DENY,
    }
    disagreements = 0
    for (policy_set, requests), (moto_policy, _) in zip(ours, theirs, strict=True):
        for action, resource in requests:
            mine = evaluate(Request(principal, action, resource), policy_set).effect
            if expected[moto_policy.is_action_permitted(action, resource)] is not mine:
                disagreements += 1
    decisions = sum(len(requests) for _, requests in cases)

    def run_ours() -> None:
        for policy_set, requests in ours:
            for action, resource in requests:
                evaluate(Request(principal, action, resource), policy_set)

    def run_moto() -> None:
        for policy, requests in theirs:
            for action, resource in requests:
                policy.is_action_permitted(action, resource)

    # Interleaved rounds: each round times both engines back to back, so a slower or busier
    # moment of the machine weighs on both; the ratio is the median of the rounds' ratios.
    our_rates, moto_rates = [], []
    for _ in range(ROUNDS):
        our_rates.append(rate(run_ours, decisions, seconds / ROUNDS))
        moto_rates.append(rate(run_moto, decisions, seconds / ROUNDS))
    ratio = statistics.median(ours / theirs for ours, theirs in zip(our_rates, moto_rates, strict=True))
    print(f"1. small identity policies ({len(cases)} policies, {decisions} requests, ", end="")
    print(f"{disagreements} disagreements with moto), median of {ROUNDS} interleaved rounds")
    print(f"   broker.policy  {statistics.median(our_rates):>12,.0f} decisions/s")
    print(f"   moto IAMPolicy {statistics.median(moto_rates):>12,.0f} decisions/s")
    print(f"   ratio          {ratio:>12.2f}x   (target >= 1.0)")


# -- 2. a realistic account -------------------------------------------------------------


def managed_policy(rng: random.Random, number: int) -> str:
    statements = []
    for index in range(20):
        service = rng.choice(list(SERVICES))
        names = SERVICES[service]
        actions = rng.sample([f"{service}:{name}" for name in names], k=min(3, len(names)))
        if rng.random() < 0.4:
            actions.append(f"{service}:{rng.choice(['Get', 'List', 'Describe', 'Put'])}*")
        team = rng.choice(TEAMS)
        resource = rng.choice(
            [
                "*",
                f"arn:aws:{service}:*:{ACCOUNT}:*",
                f"arn:aws:s3:::app-data/{team}/*",
                "arn:aws:s3:::app-data/${aws:PrincipalTag/team}/*",
                f"arn:aws:{service}:eu-west-1:{ACCOUNT}:*{team}*",
            ]
        )
        statement: dict[str, Any] = {
            "Sid": f"P{number}S{index}",
            "Effect": "Deny" if rng.random() < 0.1 else "Allow",
            "Action": actions,
            "Resource": resource,
        }
        condition_kind = rng.random()
        if condition_kind < 0.25:
            statement["Condition"] = {"StringEquals": {"aws:RequestedRegion": ["eu-west-1", "eu-central-1"]}}
        elif condition_kind < 0.4:
            statement["Condition"] = {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.0.2.0/24"]}}
        elif condition_kind < 0.5:
            statement["Condition"] = {"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}}
        elif condition_kind < 0.55:
            statement["Condition"] = {"ForAllValues:StringLike": {"aws:TagKeys": ["team", "cost-*"]}}
        elif condition_kind < 0.6:
            statement["Condition"] = {"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}}
        statements.append(statement)
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, indent=2)


SCP_TEXTS = [
    # root: the default FullAWSAccess
    [json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})],
    # OU: allow everything, deny outside two regions except global services, protect the audit role
    [
        json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "RegionGuard",
                        "Effect": "Deny",
                        "NotAction": ["iam:*", "sts:*", "organizations:*"],
                        "Resource": "*",
                        "Condition": {"StringNotEquals": {"aws:RequestedRegion": ["eu-west-1", "eu-central-1"]}},
                    },
                    {
                        "Sid": "ProtectAudit",
                        "Effect": "Deny",
                        "Action": ["iam:*"],
                        "Resource": "arn:aws:iam::*:role/audit/*",
                        "Condition": {"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/admin/*"}},
                    },
                ],
            }
        ),
    ],
    # account: an allow list of services
    [
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": [f"{service}:*" for service in SERVICES], "Resource": "*"}],
            }
        )
    ],
]


def realistic_account(seconds: float) -> None:
    rng = random.Random(11)
    managed = [parse_policy(managed_policy(rng, n), PolicyKind.MANAGED, f"policy-{n}") for n in range(10)]
    boundary = parse_policy(
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "NotAction": ["iam:Create*", "organizations:*"], "Resource": "*"}],
            }
        ),
        PolicyKind.BOUNDARY,
        "boundary",
    )
    scps = [
        [parse_policy(text, PolicyKind.SCP, f"scp-{d}-{i}") for i, text in enumerate(level)]
        for d, level in enumerate(SCP_TEXTS)
    ]
    roles = []
    for number in range(50):
        team = TEAMS[number % len(TEAMS)]
        attached = tuple(rng.sample(managed, k=rng.randint(2, 5)))
        inline = parse_policy(
            json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": "logs:*",
                            "Resource": f"arn:aws:logs:*:{ACCOUNT}:log-group:/app/{team}:*",
                        }
                    ],
                }
            ),
            PolicyKind.INLINE_ROLE,
            f"role-{number}-inline",
        )
        role_arn = f"arn:aws:iam::{ACCOUNT}:role/app/{team}-{number}"
        policy_set = PolicySet(
            identity=(*attached, inline),
            boundary=boundary if number % 3 == 0 else None,
            scps=scps,
            resource_account=ACCOUNT,
        )
        principal = Principal(
            arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/{team}-{number}/session",
            role_arn=role_arn,
            is_session=True,
        )
        roles.append((team, principal, policy_set))
    requests = []
    for n in range(2000):
        team, principal, policy_set = rng.choice(roles)
        service = rng.choice(list(SERVICES))
        action = f"{service}:{rng.choice(SERVICES[service])}"
        resource = rng.choice(RESOURCES[service]).format(team=rng.choice([team, "blue"]), n=n % 7)
        context = {
            "aws:RequestedRegion": rng.choice(["eu-west-1", "eu-west-1", "us-east-1"]),
            "aws:SourceIp": rng.choice(["10.1.2.3", "203.0.113.9"]),
            "aws:PrincipalTag/team": team,
            "aws:ResourceTag/team": rng.choice([team, "blue"]),
            "aws:PrincipalArn": principal.role_arn,
            "aws:MultiFactorAuthPresent": rng.random() < 0.5,
            "aws:CurrentTime": "2024-05-01T10:00:00Z",
        }
        requests.append((Request(principal, action, resource, context), policy_set))
    raw = [(r.principal, r.action, r.resource, r.context, s) for r, s in requests]
    allowed = sum(evaluate(request, policy_set).allowed for request, policy_set in requests)

    def run_prepared() -> None:
        for request, policy_set in requests:
            evaluate(request, policy_set)

    def run_building_requests() -> None:
        for principal, action, resource, context, policy_set in raw:
            evaluate(Request(principal, action, resource, context), policy_set)

    statements = sum(len(policy.statements) for policy in managed)
    print(
        f"2. realistic account: 50 roles, 10 managed policies ({statements} statements), 3 SCP levels, "
        f"{len(requests)} requests ({allowed} allowed)"
    )
    prepared = rate(run_prepared, len(requests), seconds)
    building = rate(run_building_requests, len(requests), seconds)
    print(f"   evaluate(prepared request)      {prepared:>12,.0f} decisions/s   (target >= 50,000)")
    print(f"   Request(...) + evaluate(...)    {building:>12,.0f} decisions/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    arguments = parser.parse_args()
    compare_with_moto(arguments.seconds)
    realistic_account(arguments.seconds)


if __name__ == "__main__":
    main()
