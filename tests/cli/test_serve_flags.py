"""``broker serve --host/--port`` values that cannot be listened on are refused before anything
starts, never replaced by the settings' value or wrapped into another port."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.test_operator_errors import broker, one_line


@pytest.mark.parametrize("port", ["0", "70000", "-1", "65536"])
def test_a_port_outside_1_to_65535_is_refused(tmp_path: Path, port: str) -> None:
    result = broker(tmp_path, "serve", "--port", port)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "listening" not in result.stderr
    assert "Invalid value for '--port'" in result.stderr and "1<=x<=65535" in result.stderr


@pytest.mark.parametrize("host", ["", "  "])
def test_an_empty_host_is_one_line(tmp_path: Path, host: str) -> None:
    line = one_line(broker(tmp_path, "serve", "--host", host))
    assert line == "broker: --host is empty: give the interface to listen on (127.0.0.1, 0.0.0.0, ::) or leave it out"
