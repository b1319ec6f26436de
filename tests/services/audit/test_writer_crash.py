"""A process submitting through the writer, killed with SIGKILL: every answered event is durable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

from sqlalchemy import select

from broker.services.runtime import Runtime
from broker.store.models import AuditEvent
from tests.services.audit.support import verify

# Eight threads submit through one writer and print each id once submit has returned: a printed
# id is an answered request. Ids go out unbuffered, one line each, under a lock.
SUBMITTER = textwrap.dedent(
    """
    import datetime as dt, os, sys, threading, uuid
    from broker.services.audit import ANONYMOUS, AuditWriter, build_event
    from broker.store import Database

    writer = AuditWriter(Database(sys.argv[1]))
    out = threading.Lock()

    def work(number):
        count = 0
        while True:
            count += 1
            event_id = writer.submit(build_event(
                event_name="GetUser", event_source="iam.amazonaws.com", actor=ANONYMOUS,
                now=dt.datetime.now(dt.UTC), region="us-east-1", source_ip=None, user_agent="crash",
                request_id=str(uuid.uuid4()), request_parameters={"n": f"{number}-{count}"}, read_only=True,
            ))
            with out:
                os.write(1, (event_id + "\\n").encode())

    for number in range(8):
        threading.Thread(target=work, args=(number,), daemon=True).start()
    threading.Event().wait()
    """
)


def test_a_writer_killed_mid_load_loses_no_answered_event(audit_runtime: Runtime) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BROKER_")}
    process = subprocess.Popen(
        [sys.executable, "-c", SUBMITTER, audit_runtime.settings.database_url],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    stdout = process.stdout
    assert stdout is not None
    answered: list[str] = []

    def read() -> None:
        answered.extend(line.decode().strip() for line in stdout)

    reader = threading.Thread(target=read)
    reader.start()
    deadline = time.monotonic() + 60
    while len(answered) < 300 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)  # mid-load: batches are being written as it dies
    process.wait(timeout=10)
    reader.join(timeout=10)
    assert process.stderr is not None
    errors = process.stderr.read().decode()
    process.stderr.close()
    stdout.close()
    assert process.returncode == -signal.SIGKILL, errors
    assert len(answered) >= 300, errors

    with audit_runtime.db.transaction() as session:
        stored = set(session.scalars(select(AuditEvent.event_id).where(AuditEvent.event_name == "GetUser")))
    assert set(answered) <= stored  # the last batch may have committed unanswered: that is allowed
    report = verify(audit_runtime)
    assert report.ok, [f.line() for f in report.findings]
