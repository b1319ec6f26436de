"""The mutation runner itself: mutants are served from memory, classified, and never written."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.mutation.run import (
    KILLED,
    SURVIVED,
    TARGETS,
    SourceOverride,
    list_mutants,
    module_name,
    mutate,
    run_mutants,
    run_tests,
)

DEMO = """REFUSAL = "too young"


def is_adult(age):
    return age >= 18
"""

DEMO_TESTS = """from mutation_demo import is_adult


def test_the_boundary():
    assert is_adult(18)
    assert not is_adult(17)
"""


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "mutation_demo.py").write_text(DEMO)
    (tmp_path / "test_mutation_demo.py").write_text(DEMO_TESTS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_module_names() -> None:
    assert module_name("broker/crypto/tokens.py") == "broker.crypto.tokens"
    assert module_name("broker/crypto/sigv4/__init__.py") == "broker.crypto.sigv4"


def test_every_target_names_files_that_exist() -> None:
    root = Path(__file__).resolve().parents[2]
    for target in TARGETS:
        assert target.sources and all((root / source).is_file() for source in target.sources), target.name
        assert all((root / test).is_file() for test in target.tests), target.name


def test_mutants_are_reproduced_from_their_ids() -> None:
    mutants = list_mutants("mutation_demo.py", DEMO)
    mutated = {mutate(mutant, DEMO) for mutant in mutants}
    assert len(mutated) == len(mutants) >= 3
    assert DEMO.replace(">=", ">") in mutated
    assert DEMO not in mutated


def test_the_override_serves_the_mutant_and_the_file_is_never_written(demo: Path) -> None:
    assert "mutation_demo" not in sys.modules
    tests = (str(demo / "test_mutation_demo.py"),)
    assert run_tests(tests, None, None)[0] == 0
    broken = SourceOverride("mutation_demo", str(demo / "mutation_demo.py"), DEMO.replace(">=", ">"))
    assert run_tests(tests, broken, None)[0] == 1

    wanted = {DEMO.replace(">=", ">"), DEMO.replace("too young", "XXtoo youngXX")}
    jobs = []
    for mutant in list_mutants("mutation_demo.py", DEMO):
        mutated = mutate(mutant, DEMO)
        if mutated in wanted:
            jobs.append((mutant, SourceOverride("mutation_demo", str(demo / "mutation_demo.py"), mutated), mutated))
    assert len(jobs) == 2
    outcomes = {outcome.diff: outcome.status for outcome in run_mutants(jobs, tests, timeout=60, parallel=2)}
    assert outcomes[DEMO.replace(">=", ">")] == KILLED
    assert outcomes[DEMO.replace("too young", "XXtoo youngXX")] == SURVIVED  # a message no test reads
    assert (demo / "mutation_demo.py").read_text() == DEMO
    assert sorted(path.name for path in demo.iterdir() if path.suffix == ".py") == [
        "mutation_demo.py",
        "test_mutation_demo.py",
    ]
