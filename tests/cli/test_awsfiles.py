"""~/.aws/credentials editing: only the broker's keys in the broker's section change."""

from __future__ import annotations

import configparser
import stat
from pathlib import Path

from broker.cli import awsfiles
from tests.cli.test_cache import credentials

ORIGINAL = """\
# my credentials; keep this comment
[default]
aws_access_key_id = AKIADEFAULTDEFAULT00
aws_secret_access_key = defaultsecret

[dev]
; the region stays
region = eu-west-1
aws_access_key_id = ASIAOLDOLDOLDOLDOLD1
aws_secret_access_key = oldsecret
aws_session_token = old
    continued-token-line
x_security_token_expires = 2020-01-01T00:00:00Z

[other]
aws_access_key_id=AKIAOTHEROTHEROTHER0
"""


def test_the_profile_section_is_replaced_and_everything_else_kept(tmp_path: Path) -> None:
    path = tmp_path / "credentials"
    path.write_text(ORIGINAL)
    path.chmod(0o644)
    awsfiles.write_credentials_profile(path, "dev", credentials())
    text = path.read_text()
    assert text.startswith("# my credentials; keep this comment\n[default]\n")
    assert "[other]\naws_access_key_id=AKIAOTHEROTHEROTHER0\n" in text
    assert "; the region stays\nregion = eu-west-1\n" in text
    assert "old" not in text and "continued-token-line" not in text and "2020-01-01" not in text
    parsed = configparser.RawConfigParser()
    parsed.read_string(text)
    assert parsed["dev"]["aws_access_key_id"] == "ASIAEXAMPLEEXAMPLE01"
    assert parsed["dev"]["aws_session_token"] == "token.value.sig"
    assert parsed["dev"]["x_security_token_expires"] == "2026-11-30T13:00:00Z"
    assert parsed["dev"]["x_principal_arn"] == "arn:aws:sts::123456789012:assumed-role/Engineer/dave"
    assert parsed["dev"]["region"] == "eu-west-1"
    assert parsed["default"]["aws_secret_access_key"] == "defaultsecret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # a file with secrets is tightened


def test_a_new_file_and_a_new_section(tmp_path: Path) -> None:
    path = tmp_path / ".aws" / "credentials"
    awsfiles.write_credentials_profile(path, "dev", credentials())
    assert path.read_text().startswith("[dev]\naws_access_key_id = ASIAEXAMPLEEXAMPLE01\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text("[default]\nregion = us-east-1")  # no newline at the end
    awsfiles.write_credentials_profile(path, "dev", credentials())
    assert path.read_text().startswith("[default]\nregion = us-east-1\n\n[dev]\n")


def test_removing_drops_only_the_broker_keys(tmp_path: Path) -> None:
    path = tmp_path / "credentials"
    path.write_text(ORIGINAL)
    awsfiles.write_credentials_profile(path, "dev", credentials())
    assert awsfiles.remove_credentials_profile(path, "dev")
    text = path.read_text()
    assert "[dev]\n; the region stays\nregion = eu-west-1\n" in text and "ASIA" not in text
    path.write_text("[a]\nx = 1\n\n[dev]\naws_access_key_id = K\n\n[b]\ny = 2\n")
    assert awsfiles.remove_credentials_profile(path, "dev")
    assert path.read_text() == "[a]\nx = 1\n\n[b]\ny = 2\n"
    assert not awsfiles.remove_credentials_profile(path, "dev")


def test_an_unparseable_file_is_left_alone(tmp_path: Path) -> None:
    import pytest

    from broker.cli.errors import BrokerError

    path = tmp_path / "credentials"
    path.write_text("aws_access_key_id = outside any section\n")
    with pytest.raises(BrokerError, match="left it unchanged"):
        awsfiles.write_credentials_profile(path, "dev", credentials())
    assert path.read_text() == "aws_access_key_id = outside any section\n"


def test_the_config_snippet_and_its_detection(tmp_path: Path) -> None:
    path = tmp_path / "config"
    assert not awsfiles.config_mentions_profile(path, "dev")
    path.write_text(awsfiles.config_snippet("dev", "https://sso.example.com"))
    assert awsfiles.config_mentions_profile(path, "dev")
    assert not awsfiles.config_mentions_profile(path, "de")
    parsed = configparser.RawConfigParser()
    parsed.read(path)
    assert parsed["profile dev"]["credential_process"] == "broker credential-process --profile dev"
    assert parsed["profile dev"]["region"] == "us-east-1"  # the AWS CLI refuses to run without one
    eu = configparser.RawConfigParser()
    eu.read_string(awsfiles.config_snippet("dev", "https://sso.example.com", region="eu-west-1"))
    assert eu["profile dev"]["region"] == "eu-west-1"
