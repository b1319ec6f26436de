"""Every benchmark script still runs, with the smallest work it accepts; no figure is asserted.

The benchmarks are what the speed targets are measured with (`make bench`, not CI), so a change
that breaks one goes unseen until someone measures: `acs.py`'s HTTP half stopped at the ACS's
redirect to the role page and at the sign-in rate limit for a whole release. Here each script runs
as `make bench` runs it, in a process of its own, and must finish and print its table.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
postgres = pytest.mark.postgres

# (script and arguments, a text its report prints)
RUNS = [
    pytest.param(
        ["acs.py", "--rounds", "3", "--count", "5", "--pysaml2-seconds", "0.05", "--http-count", "8"],
        "ceiling: two bare requests",  # the last line, after the sign-ins' own
        id="acs",
    ),
    pytest.param(
        ["audit_append.py", "--rounds", "1", "--threads", "2", "--per-thread", "5", "--no-postgres"],
        "verify ok",
        id="audit_append",
    ),
    pytest.param(
        ["audit_append.py", "--rounds", "1", "--threads", "2", "--per-thread", "5", "--no-postgres", "--handoff"],
        "writer thread hand-off",
        id="audit_append-handoff",
    ),
    pytest.param(["decision_api.py", "--seconds", "0.1"], "decision", id="decision_api"),
    pytest.param(
        ["http_paths.py", "--rounds", "1", "--seconds", "0.1", "--clients", "1"],
        "ceiling at 1 client",  # printed after the paths' table
        id="http_paths",
    ),
    pytest.param(
        ["http_paths.py", "--workers", "1,2", "--rounds", "1", "--seconds", "0.1", "--clients", "2"],
        "machine busy",
        id="http_paths-workers",
        marks=postgres,
    ),
    pytest.param(["policy_eval.py", "--seconds", "0.05"], "moto", id="policy_eval"),
    pytest.param(["rate_limit.py", "--rounds", "1", "--requests", "10", "--sqlite-only"], "SQLite", id="rate_limit"),
    pytest.param(["request_path.py", "--rounds", "1", "--requests", "20"], "GetCallerIdentity", id="request_path"),
    pytest.param(
        ["request_path.py", "--postgres", "--rounds", "1", "--requests", "20"],
        "PostgreSQL",
        id="request_path-postgres",
        marks=postgres,
    ),
    pytest.param(["scale.py", "--sizes", "10,20", "--rounds", "1", "--per-round", "1"], "20", id="scale"),
    pytest.param(["token_verify.py", "--rounds", "1", "--seconds", "0.02"], "PyJWT", id="token_verify"),
    pytest.param(["wal_checkpoint.py", "--rounds", "1", "--requests", "50"], "on the thread", id="wal_checkpoint"),
]


@pytest.mark.parametrize(("arguments", "printed"), RUNS)
def test_the_benchmark_runs_and_reports(arguments: list[str], printed: str) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("BROKER_")}
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / arguments[0]), *arguments[1:]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:] or done.stdout[-3000:]
    assert printed in done.stdout, done.stdout[-3000:]
