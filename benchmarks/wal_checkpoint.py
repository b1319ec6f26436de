"""Latency of audited requests on SQLite with the log's checkpoints in a commit (SQLite's default)
and on the server's checkpoint thread (``WalCheckpointer``), side by side.

An audited GetCallerIdentity writes about ten pages to SQLite's write-ahead log. By default the
commit that takes the log past 1,000 pages copies it back into the database before it returns, so
about one request in a hundred waits for that. ``broker serve`` runs a ``WalCheckpointer`` in each
worker instead. This calls the WSGI app in process (signed once, as in ``request_path.py``), one
request at a time, and alternates the two modes in rounds on one database: "in a commit" stops the
checkpointer and reopens the pool's connections with SQLite's default, "on the thread" starts it.
It prints, per mode, the median over rounds of each round's p50, p99, p99.9 and max, and how many
requests took over 2 ms.

Run: ``.venv/bin/python benchmarks/wal_checkpoint.py [--rounds 5] [--requests 3000]``. Nothing
asserts on time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from broker.crypto.keys import ensure_keys
from broker.web.app import create_app

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.request_path import BASE_URL, FORM, STS_BODY, call, environ
from tests.services.test_hot_path import make_user
from tests.support.brokers import make_runtime, make_settings

SLOW_SECONDS = 0.002


def latencies(app: object, make: object, count: int) -> list[float]:
    measured = []
    for _ in range(count):
        started = time.perf_counter()
        call(app, make)  # type: ignore[arg-type]
        measured.append(time.perf_counter() - started)
    return sorted(measured)


def figures(measured: list[float]) -> dict[str, float]:
    count = len(measured)
    return {
        "p50": measured[count // 2] * 1e3,
        "p99": measured[int(count * 0.99)] * 1e3,
        "p99.9": measured[int(count * 0.999)] * 1e3,
        "max": measured[-1] * 1e3,
        "over 2 ms": float(sum(value > SLOW_SECONDS for value in measured)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        keys = Path(workdir) / "keys"
        ensure_keys(keys, common_name="benchmark")
        settings = make_settings(
            Path(workdir), keys, f"sqlite:///{workdir}/broker.db", BASE_URL, rate_limit_enabled=False
        )
        runtime = make_runtime(settings)
        app = create_app(runtime=runtime)
        make = environ("/", STS_BODY, FORM, "sts", make_user(runtime))
        checkpointer = runtime.wal_checkpointer
        modes = ("in a commit", "on the thread")
        rounds: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
        latencies(app, make, 300)  # warm: caches, statements, the log
        for number in range(args.rounds):
            for mode in modes if number % 2 == 0 else tuple(reversed(modes)):
                if mode == "on the thread":
                    checkpointer.start()
                else:
                    checkpointer.stop()
                    runtime.db.engine.pool.dispose()  # connections reopen with SQLite's default
                rounds[mode].append(figures(latencies(app, make, args.requests)))
        checkpointer.stop()
        runtime.audit_writer.close()
        runtime.db.dispose()
    print(
        f"Audited GetCallerIdentity in process on SQLite, one at a time: {args.rounds} rounds x "
        f"{args.requests} requests per mode, interleaved; medians of the rounds' figures"
    )
    names = list(rounds[modes[0]][0])
    print(f"  {'checkpoints':<14}" + "".join(f"{name:>11}" for name in names))
    for mode in modes:
        cells = []
        for name in names:
            value = statistics.median(r[name] for r in rounds[mode])
            cells.append(f"{value:>8.0f}" if name == "over 2 ms" else f"{value:>8.2f} ms")
        print(f"  {mode:<14}" + "".join(f"{cell:>11}" for cell in cells))


if __name__ == "__main__":
    main()
