"""Mutation testing of the security checks: does a test notice when a check breaks?

For each module in ``TARGETS`` every mutant that mutmut 2's engine makes (an operator flipped,
a constant changed, a string altered, an assignment or a decorator dropped...) is run against
that module's mirroring tests (``pytest -x``). A mutant is *killed* when a test fails, *timed out*
when the tests run ten times longer than on the real code, and *survived* when every test passes:
a change of behaviour that nobody would notice.

Mutants live in memory only. mutmut's own ``run`` command writes each mutant over the source file
and restores it afterwards, which is unsafe in a tree other people are editing and leaves a mutant
behind when interrupted. Here a warm parent process (pytest and the third-party libraries already
imported, nothing of ``broker``) forks one child per mutant; the child installs an import hook
that serves the mutated source for that one module and runs pytest. No file is ever written
under the repository, and an interrupted run leaves nothing to clean up.

    python -m tests.mutation.run                       # every module
    python -m tests.mutation.run crypto/tokens.py      # one module
    python -m tests.mutation.run --jobs 2 --out var/mutation
    python -m tests.mutation.run --resume var/mutation/report.json   # re-try the last survivors only

The table goes to stdout; ``report.json`` and ``report.md`` (with the diff of every survivor) go
to ``--out`` (``var/mutation`` by default, ignored by git).
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[2]

KILLED = "killed"
TIMEOUT = "timeout"
SURVIVED = "survived"

# Plugins (hypothesis's) are imported by the warm parent before pytest starts, so pytest cannot
# rewrite their asserts and would warn, which the project's "error" filter turns into a failure.
PYTEST_ARGS = ("-p", "no:cacheprovider", "-q", "--no-header", "-W", "ignore::pytest.PytestAssertRewriteWarning")


@dataclass(frozen=True)
class Target:
    """A module (or package) under test and the tests that mirror it.

    With ``-x`` the first failing test ends a mutant's run: the quickest files come first.
    """

    name: str
    sources: tuple[str, ...]
    tests: tuple[str, ...]
    # The root conftest imports the whole broker (runtime, web, store) for fixtures these tests
    # never use; without it a child imports only what its tests do. Fixture modules they do use
    # are loaded as plugins instead.
    plugins: tuple[str, ...] = ()

    @property
    def pytest_args(self) -> tuple[str, ...]:
        loaded = tuple(arg for plugin in self.plugins for arg in ("-p", plugin))
        return ("--noconftest", *loaded, *existing(self.tests))


TARGETS: tuple[Target, ...] = (
    Target(
        "policy/_wildcard.py",
        ("broker/policy/_wildcard.py",),
        ("tests/policy/test_wildcard_mutants.py", "tests/policy/test_wildcard.py"),
    ),
    Target(
        "policy/conditions.py",
        ("broker/policy/conditions.py",),
        ("tests/policy/test_conditions_mutants.py", "tests/policy/test_conditions.py"),
    ),
    Target(
        "saml/acs.py",
        ("broker/saml/acs.py",),
        ("tests/saml/test_acs.py", "tests/saml/test_acs_mutants.py", "tests/saml/test_acs_signatures.py"),
        plugins=("tests.saml.conftest",),
    ),
    # The Response's time and audience checks moved here from acs.py; acs.py's tests reach them.
    Target(
        "saml/content.py",
        ("broker/saml/content.py",),
        ("tests/saml/test_content.py", "tests/saml/test_acs.py", "tests/saml/test_acs_mutants.py"),
        plugins=("tests.saml.conftest",),
    ),
    Target(
        "saml/xmldsig.py",
        ("broker/saml/xmldsig.py",),
        # The signature and encryption rules are also tested through the ACS that applies them.
        ("tests/saml/test_xmldsig_mutants.py", "tests/saml/test_xmldsig.py", "tests/saml/test_acs_signatures.py"),
        plugins=("tests.saml.conftest",),
    ),
    Target(
        "crypto/sigv4/",
        (
            "broker/crypto/sigv4/__init__.py",
            "broker/crypto/sigv4/_canonical.py",
            "broker/crypto/sigv4/_model.py",
            "broker/crypto/sigv4/_parse.py",
            "broker/crypto/sigv4/_sign.py",
            "broker/crypto/sigv4/_verify.py",
        ),
        ("tests/crypto/test_sigv4_mutants.py", "tests/crypto/test_sigv4.py"),
    ),
    Target(
        "crypto/tokens.py",
        ("broker/crypto/tokens.py",),
        ("tests/crypto/test_tokens_claims.py", "tests/crypto/test_tokens.py"),
    ),
)


@dataclass(frozen=True)
class Mutant:
    """One mutation of one line, named as mutmut 2 names it (line text, index on that line)."""

    path: str
    line_number: int
    line: str
    index: int

    @property
    def key(self) -> tuple[str, str, int]:
        # Line numbers move when someone edits the file above; the line text and index do not.
        return (self.path, self.line, self.index)


@dataclass
class Outcome:
    mutant: Mutant
    status: str
    seconds: float
    diff: str = ""


@dataclass
class TargetReport:
    name: str
    tests: list[str]
    baseline_seconds: float
    total: int = 0
    killed: int = 0
    timeout: int = 0
    survived: int = 0
    seconds: float = 0.0
    survivors: list[dict[str, object]] = field(default_factory=list)

    @property
    def score(self) -> float:
        return 100.0 * (self.killed + self.timeout) / self.total if self.total else 100.0


# --- mutmut 2's engine ------------------------------------------------------------------------


def list_mutants(path: str, source: str) -> list[Mutant]:
    from mutmut import Context, list_mutations

    context = Context(source=source, filename=path)
    return [Mutant(path, found.line_number, found.line, found.index) for found in list_mutations(context)]


def mutate(mutant: Mutant, source: str) -> str:
    from mutmut import Context, RelativeMutationID
    from mutmut import mutate as mutmut_mutate

    mutation_id = RelativeMutationID(mutant.line, mutant.index, mutant.line_number, filename=mutant.path)
    mutated, performed = mutmut_mutate(Context(source=source, filename=mutant.path, mutation_id=mutation_id))
    if performed != 1:
        raise RuntimeError(f"mutmut did not reproduce mutant {mutant}")
    return str(mutated)


def diff_of(mutant: Mutant, source: str, mutated: str) -> str:
    lines = difflib.unified_diff(
        source.splitlines(), mutated.splitlines(), fromfile=mutant.path, tofile=mutant.path, lineterm="", n=1
    )
    return "\n".join(lines)


# --- the mutant, in memory --------------------------------------------------------------------


def module_name(path: str) -> str:
    parts = list(Path(path).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


class SourceOverride(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves one module from a source string instead of its file (first on ``sys.meta_path``)."""

    def __init__(self, name: str, filename: str, source: str) -> None:
        self.name = name
        self.filename = filename
        self.source = source

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.name:
            return None
        is_package = Path(self.filename).name == "__init__.py"
        spec = importlib.util.spec_from_file_location(
            fullname,
            self.filename,
            loader=self,
            submodule_search_locations=[str(Path(self.filename).parent)] if is_package else None,
        )
        return spec

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        code = compile(self.source, self.filename, "exec", dont_inherit=True)
        exec(code, module.__dict__)  # noqa: S102 - the point: run the mutated module


# --- running the tests in a forked child ------------------------------------------------------


def _child(tests: Sequence[str], override: SourceOverride | None) -> int:
    """Runs in the forked child: import hook, quiet hypothesis profile, pytest."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    if override is not None:
        sys.meta_path.insert(0, override)
    import pytest
    from hypothesis import settings

    # Same examples every run (a score that does not move by chance) and no deadline, so a slow,
    # busy machine never counts a mutant as killed that every test would have let through.
    settings.register_profile("mutation", derandomize=True, deadline=None, database=None, print_blob=False)
    settings.load_profile("mutation")
    return int(pytest.main([*PYTEST_ARGS, "-x", *tests]))


def start(tests: Sequence[str], override: SourceOverride | None) -> int:
    """Fork a child that runs the tests (against the override, if any); return its pid."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # child
        code = 70
        try:
            os.setpgid(0, 0)
            code = _child(tests, override)
        finally:
            os._exit(code)
    return pid


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def run_tests(tests: Sequence[str], override: SourceOverride | None, timeout: float | None) -> tuple[int | None, float]:
    """Exit code of the tests (None when they ran past ``timeout``) and the seconds they took."""
    began = time.monotonic()
    pid = start(tests, override)
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status), time.monotonic() - began
            if timeout is not None and time.monotonic() - began > timeout:
                _kill(pid)
                return None, time.monotonic() - began
            time.sleep(0.02)
    except BaseException:
        _kill(pid)
        raise


def run_mutants(
    jobs: Iterable[tuple[Mutant, SourceOverride, str]], tests: Sequence[str], timeout: float, parallel: int
) -> Iterator[Outcome]:
    """Run each mutant's tests, ``parallel`` children at a time; yields outcomes as they finish."""
    pending = iter(jobs)
    running: dict[int, tuple[Mutant, str, float]] = {}
    try:
        while True:
            while len(running) < parallel:
                job = next(pending, None)
                if job is None:
                    break
                mutant, override, diff = job
                running[start(tests, override)] = (mutant, diff, time.monotonic())
            if not running:
                return
            for pid, (mutant, diff, began) in list(running.items()):
                done, status = os.waitpid(pid, os.WNOHANG)
                elapsed = time.monotonic() - began
                if done:
                    del running[pid]
                    code = os.waitstatus_to_exitcode(status)
                    yield Outcome(mutant, SURVIVED if code == 0 else KILLED, elapsed, diff)
                elif elapsed > timeout:
                    del running[pid]
                    _kill(pid)
                    yield Outcome(mutant, TIMEOUT, elapsed, diff)
            time.sleep(0.02)
    finally:
        for pid in running:
            _kill(pid)


# --- warm parent ------------------------------------------------------------------------------


_MAIN = frozenset({"__main__", "__mp_main__"})


def _is_ours(name: str) -> bool:
    top = name.partition(".")[0]
    return top in {"broker", "tests", "conftest", *_MAIN} or top.startswith("test_")


def _is_runner(name: str) -> bool:
    return name == "tests" or name.startswith("tests.mutation")


def preload(runs: Sequence[Sequence[str]]) -> int:
    """Import in this (parent) process the third-party modules the tests use, none of ours.

    A child lists what collecting each target's tests imports; the parent imports the same, so each
    forked child only imports ``broker`` and the test modules. Returns how many were preloaded.
    """
    names: set[str] = set()
    for args in runs:
        with tempfile.NamedTemporaryFile("r", suffix=".txt") as listing:
            pid = os.fork()
            if pid == 0:
                code = 70
                try:
                    devnull = os.open(os.devnull, os.O_WRONLY)
                    os.dup2(devnull, 1)
                    os.dup2(devnull, 2)
                    import pytest

                    pytest.main([*PYTEST_ARGS, "--collect-only", *args])
                    Path(listing.name).write_text("\n".join(sorted(sys.modules)))
                    code = 0
                finally:
                    os._exit(code)
            os.waitpid(pid, 0)
            names.update(name for name in Path(listing.name).read_text().splitlines() if not _is_ours(name))
    loaded = 0
    for name in sorted(names):
        try:
            importlib.import_module(name)
        except Exception:  # noqa: S112 - a module that only imports inside pytest is simply left to the child
            continue
        loaded += 1
    # __main__ (and multiprocessing's alias of it, __mp_main__) is this runner.
    leaked = [name for name in sys.modules if _is_ours(name) and name not in _MAIN and not _is_runner(name)]
    if leaked:
        raise RuntimeError(f"preloading imported project modules, mutants would not be seen: {leaked[:5]}")
    return loaded


# --- one target -------------------------------------------------------------------------------


def existing(paths: Iterable[str]) -> list[str]:
    return [path for path in paths if (REPO / path).is_file()]


def check_target(target: Target, parallel: int, previous: dict[str, Any] | None = None) -> TargetReport:
    """Run every mutant of the target, or with ``previous`` (its entry of an earlier report) only
    that report's survivors, carrying its killed and timed-out counts over."""
    tests = target.pytest_args
    code, baseline = run_tests(tests, None, None)
    if code != 0:
        raise SystemExit(f"{target.name}: the tests fail on the real code (exit {code}); fix them first")
    report = TargetReport(target.name, existing(target.tests), round(baseline, 2))
    timeout = max(10 * baseline, baseline + 10)
    # Identical lines (two "@lru_cache(maxsize=16)") give mutants of one key: re-try as many as survived.
    only: Counter[tuple[str, str, int]] | None = None
    if previous is not None:
        only = Counter((str(s["path"]), str(s["line"]), int(s["index"])) for s in previous["survivors"])

    def jobs() -> Iterator[tuple[Mutant, SourceOverride, str]]:
        for path in target.sources:
            source = (REPO / path).read_text()
            for mutant in list_mutants(path, source):
                if only is not None:
                    if only[mutant.key] <= 0:
                        continue
                    only[mutant.key] -= 1
                mutated = mutate(mutant, source)
                override = SourceOverride(module_name(path), str(REPO / path), mutated)
                yield mutant, override, diff_of(mutant, source, mutated)

    began = time.monotonic()
    for outcome in run_mutants(jobs(), tests, timeout, parallel):
        report.total += 1
        if outcome.status == KILLED:
            report.killed += 1
        elif outcome.status == TIMEOUT:
            report.timeout += 1
        else:
            report.survived += 1
            report.survivors.append({**asdict(outcome.mutant), "diff": outcome.diff})
        print(f"  {report.total:4d} {outcome.status:8s} {outcome.mutant.path}:{outcome.mutant.line_number}", flush=True)
    report.seconds = round(time.monotonic() - began, 1)
    if previous is not None:
        # A survivor whose line has since changed is no longer a mutant of this source: dropped.
        report.total += int(previous["killed"]) + int(previous["timeout"])
        report.killed += int(previous["killed"])
        report.timeout += int(previous["timeout"])
        report.seconds += float(previous["seconds"])
    report.survivors.sort(key=lambda survivor: (str(survivor["path"]), int(str(survivor["line_number"]))))
    return report


# --- reporting --------------------------------------------------------------------------------


def table(reports: Sequence[TargetReport]) -> str:
    rows = [
        "| module | mutants | killed | timed out | survived | score | run time |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for report in reports:
        rows.append(
            f"| {report.name} | {report.total} | {report.killed} | {report.timeout} | {report.survived} "
            f"| {report.score:.1f}% | {report.seconds:.0f} s |"
        )
    return "\n".join(rows)


def markdown(reports: Sequence[TargetReport]) -> str:
    parts = ["# Mutation testing report", "", table(reports), ""]
    for report in reports:
        parts += [f"## {report.name}", "", f"Tests: {', '.join(report.tests)}", ""]
        if not report.survivors:
            parts += ["No survivors.", ""]
        for survivor in report.survivors:
            parts += ["```diff", str(survivor["diff"]), "```", ""]
    return "\n".join(parts)


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    # Stopped by Ctrl-C or a plain kill (a background job ignores SIGINT): the running children
    # are killed on the way out. Nothing else needs cleaning, as no file was written.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    names = [target.name for target in TARGETS]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", metavar="MODULE", help=f"any of {names} (default: all)")
    parser.add_argument("--jobs", type=int, default=1, help="mutants tested at once (default 1)")
    parser.add_argument("--out", type=Path, default=REPO / "var" / "mutation", help="where report.json/md go")
    parser.add_argument(
        "--resume",
        type=Path,
        help="re-try only the survivors of this earlier report.json and keep its killed counts (a killed "
        "mutant stays killed when tests are added, as mutmut's cache assumes)",
    )
    args = parser.parse_args(argv)
    unknown = sorted(set(args.modules) - set(names))
    if unknown:
        parser.error(f"unknown module(s) {unknown}; choose from {names}")

    targets = [target for target in TARGETS if not args.modules or target.name in args.modules]
    earlier: dict[str, dict[str, Any]] = {}
    if args.resume:
        earlier = {entry["name"]: entry for entry in json.loads(args.resume.read_text())["targets"]}
    os.chdir(REPO)
    loaded = preload([target.pytest_args for target in targets])
    print(f"preloaded {loaded} third-party modules", flush=True)

    reports: list[TargetReport] = []
    for target in targets:
        print(f"{target.name}:", flush=True)
        if args.resume and target.name not in earlier:
            raise SystemExit(f"{args.resume} has no entry for {target.name}")
        reports.append(check_target(target, args.jobs, earlier.get(target.name)))
        print(table(reports[-1:]), flush=True)

    print()
    print(table(reports))
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "report"
    (args.out / f"{stem}.json").write_text(
        json.dumps({"targets": [{**asdict(report), "score": round(report.score, 1)} for report in reports]}, indent=2)
    )
    (args.out / f"{stem}.md").write_text(markdown(reports))
    print(f"written: {args.out / stem}.json, {args.out / stem}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
