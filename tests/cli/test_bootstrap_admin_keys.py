"""`broker bootstrap-admin` on an instance whose keys are not the database's is one line naming
the likely cause, not a DecryptionError traceback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from broker.crypto.keys import ensure_keys
from tests.cli.test_operator_errors import broker, one_line


def test_bootstrap_admin_with_another_key_set_names_the_cause(tmp_path: Path, keys_dir: Path) -> None:
    shutil.copytree(keys_dir, tmp_path / "certs")
    assert broker(tmp_path, "init").returncode == 0
    first = broker(tmp_path, "bootstrap-admin")
    assert first.returncode == 0, first.stderr
    key_id = json.loads(first.stdout)["AccessKeyId"]
    other = tmp_path / "other-certs"
    ensure_keys(other, common_name="another instance")
    line = one_line(broker(tmp_path, "bootstrap-admin", BROKER_CERTS_DIR=str(other)))
    assert line == (
        f"broker: cannot decrypt admin's access key {key_id} with the keys in {other}/: "
        "this instance's keys are not the ones the database was set up with "
        "(mount the key files of the instance that ran `broker init`)"
    )
