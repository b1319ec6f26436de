"""~/.aws/credentials editing: only the broker's keys in the broker's section change."""

from __future__ import annotations

import configparser
import errno
import stat
import threading
import time
from pathlib import Path

import pytest
from botocore import configloader

from broker.cli import awsfiles
from broker.cli.errors import BrokerError
from broker.cli.shell import BROKER_SERVICES
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
    assert awsfiles.remove_credentials_profile(path, "dev") == "removed"
    text = path.read_text()
    assert "[dev]\n; the region stays\nregion = eu-west-1\n" in text and "ASIA" not in text
    path.write_text("[a]\nx = 1\n\n[dev]\naws_access_key_id = ASIAK\naws_session_token = T\n\n[b]\ny = 2\n")
    assert awsfiles.remove_credentials_profile(path, "dev") == "removed"
    assert path.read_text() == "[a]\nx = 1\n\n[b]\ny = 2\n"
    assert awsfiles.remove_credentials_profile(path, "dev") == "absent"


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
    assert "endpoint_url" not in parsed["profile dev"]  # a global endpoint would send S3 to the broker too
    eu = configparser.RawConfigParser()
    eu.read_string(awsfiles.config_snippet("dev", "https://sso.example.com", region="eu-west-1"))
    assert eu["profile dev"]["region"] == "eu-west-1"


def test_botocore_reads_the_service_specific_endpoints_of_the_snippet(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(awsfiles.config_snippet("dev", "https://sso.example.com"))
    loaded = configloader.load_config(str(path))
    assert loaded["profiles"]["dev"]["services"] == "broker-dev"
    endpoints = loaded["services"]["broker-dev"]
    assert {name: section["endpoint_url"] for name, section in endpoints.items()} == {
        service.lower(): "https://sso.example.com" for service in BROKER_SERVICES
    }


CONFIG = (
    "# my config; keep this comment\r\n"
    "[default]\r\n"
    "region = eu-west-1\r\n"
    "\r\n"
    "[profile dev]\r\n"
    "output = json\r\n"
    "credential_process = python3 -m broker.cli.main credential-process --profile dev\r\n"
    "endpoint_url = https://old.example.com\r\n"
    "\r\n"
    "[profile other]\r\n"
    "region = ap-south-1\r\n"
)


def test_writing_the_profile_keeps_everything_else_byte_for_byte_with_a_backup(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_bytes(CONFIG.encode())
    path.chmod(0o640)
    current, updated = awsfiles.config_with_profile(path, "dev", "https://sso.example.com", region="us-east-1")
    assert current == CONFIG
    diff = awsfiles.config_diff(path, current, updated)
    assert "-endpoint_url = https://old.example.com" in diff
    assert "+credential_process = broker credential-process --profile dev" in diff
    assert "+[services broker-dev]" in diff
    backup = awsfiles.write_config(path, current, updated)
    assert backup == tmp_path / "config.bak"
    assert backup.read_bytes() == CONFIG.encode()
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # owner-only, as the credentials file
    written = path.read_bytes().decode()
    for kept in ("# my config; keep this comment\r\n", "[default]\r\nregion = eu-west-1\r\n", "output = json\r\n"):
        assert kept in written
    assert "[profile other]\r\nregion = ap-south-1\r\n\n[services broker-dev]\niam =\n" in written
    parsed = configparser.RawConfigParser()
    parsed.read_string(written)
    assert dict(parsed["profile dev"]) == {
        "credential_process": "broker credential-process --profile dev",
        "region": "us-east-1",
        "services": "broker-dev",
        "output": "json",
    }
    again, unchanged = awsfiles.config_with_profile(path, "dev", "https://sso.example.com", region="us-east-1")
    assert again == unchanged  # a second write changes nothing


def test_a_new_config_file_is_the_snippet_and_private(tmp_path: Path) -> None:
    path = tmp_path / "aws" / "config"
    current, updated = awsfiles.config_with_profile(path, "dev", "https://sso.example.com", region="us-east-1")
    assert current == "" and updated == awsfiles.config_snippet("dev", "https://sso.example.com")
    assert awsfiles.write_config(path, current, updated) is None
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_config_changed_meanwhile_or_unparseable_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text("[default]\n")
    current, updated = awsfiles.config_with_profile(path, "dev", "https://sso.example.com", region="us-east-1")
    path.write_text("[default]\nregion = eu-west-1\n")
    with pytest.raises(BrokerError, match="changed while"):
        awsfiles.write_config(path, current, updated)
    assert path.read_text() == "[default]\nregion = eu-west-1\n"
    path.write_text("not = a section\n")
    with pytest.raises(BrokerError, match="not a valid AWS config file"):
        awsfiles.config_with_profile(path, "dev", "https://sso.example.com", region="us-east-1")


def test_the_docs_show_the_section_login_prints() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "cli.md").read_text()
    assert awsfiles.config_snippet("dev", "https://sso.example.com") in docs


def _botocore_profile(path: Path, name: str) -> dict[str, str]:
    profile: dict[str, str] = configloader.load_config(str(path))["profiles"][name]
    return profile


def test_the_default_profile_is_edited_in_its_default_section(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text("[default]\nregion = eu-west-1\noutput = table\ncli_pager =\n")
    _, updated = awsfiles.config_with_profile(path, "default", "https://sso.example.com", region="us-east-1")
    assert "[profile default]" not in updated and updated.count("[default]") == 1
    path.write_text(updated)
    assert _botocore_profile(path, "default") == {
        "credential_process": "broker credential-process --profile default",
        "region": "us-east-1",
        "services": "broker-default",
        "output": "table",
        "cli_pager": "",
    }
    assert awsfiles.config_snippet("default", "https://sso.example.com").startswith("[default]\n")
    _, new = awsfiles.config_with_profile(tmp_path / "none", "default", "https://sso.example.com", region="us-east-1")
    assert new.startswith("[default]\ncredential_process = broker credential-process --profile default\n")


@pytest.mark.parametrize("header", ["[profile  dev]", '[profile "dev"]', "[profile\tdev]", "[profile dev]  ; mine"])
def test_a_profile_header_botocore_reads_as_the_same_profile_is_the_one_edited(tmp_path: Path, header: str) -> None:
    path = tmp_path / "config"
    path.write_text(f"{header}\nmfa_serial = arn:aws:iam::123456789012:mfa/me\noutput = table\n")
    assert _botocore_profile(path, "dev")["output"] == "table"
    _, updated = awsfiles.config_with_profile(path, "dev", "https://sso.example.com", region="us-east-1")
    path.write_text(updated)
    assert [line for line in updated.splitlines() if line.startswith("[profile")] == [header]
    assert _botocore_profile(path, "dev") == {
        "credential_process": "broker credential-process --profile dev",
        "region": "us-east-1",
        "services": "broker-dev",
        "mfa_serial": "arn:aws:iam::123456789012:mfa/me",
        "output": "table",
    }


def test_of_two_sections_botocore_reads_the_last_and_so_it_is_edited(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text("[profile dev]\noutput = json\n\n[profile  dev]\noutput = table\n")
    _, updated = awsfiles.config_with_profile(path, "dev", "https://sso.example.com", region="us-east-1")
    assert updated.startswith("[profile dev]\noutput = json\n\n[profile  dev]\ncredential_process = ")
    path.write_text(updated)
    assert _botocore_profile(path, "dev")["output"] == "table"


def test_the_credentials_file_is_matched_by_the_exact_header_botocore_looks_up(tmp_path: Path) -> None:
    path = tmp_path / "credentials"
    path.write_text("[ dev ]\nregion = eu-west-1\n")  # botocore reads this as profile " dev ", not dev
    awsfiles.write_credentials_profile(path, "dev", credentials())
    parsed = configparser.RawConfigParser()
    parsed.read(path)
    assert parsed[" dev "]["region"] == "eu-west-1" and "aws_access_key_id" in parsed["dev"]


def test_crlf_line_endings_of_the_credentials_file_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "credentials"
    mine = b"# work laptop\r\n[personal]\r\naws_access_key_id = AKIAPERSONAL\r\naws_secret_access_key = x\r\n"
    path.write_bytes(mine)
    awsfiles.write_credentials_profile(path, "dev", credentials())
    assert path.read_bytes().startswith(mine)
    assert awsfiles.remove_credentials_profile(path, "dev") == "removed"
    assert path.read_bytes() == mine + b"\n"  # the blank line that separated [dev]


def test_a_symlinked_file_stays_a_link_and_its_target_is_written(tmp_path: Path) -> None:
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    aws = tmp_path / ".aws"
    aws.mkdir()
    (dotfiles / "aws-config").write_text("[default]\nregion = eu-west-1\n")
    (dotfiles / "aws-credentials").write_text("[other]\naws_access_key_id = AKIAOTHER\n")
    config, shared = aws / "config", aws / "credentials"
    config.symlink_to("../dotfiles/aws-config")
    shared.symlink_to(dotfiles / "aws-credentials")

    current, updated = awsfiles.config_with_profile(config, "dev", "https://sso.example.com", region="us-east-1")
    backup = awsfiles.write_config(config, current, updated)
    awsfiles.write_credentials_profile(shared, "dev", credentials())

    assert config.is_symlink() and shared.is_symlink()
    assert (dotfiles / "aws-config").read_text() == updated
    assert "[dev]\naws_access_key_id = ASIAEXAMPLEEXAMPLE01\n" in (dotfiles / "aws-credentials").read_text()
    assert backup is not None and backup.read_text() == current
    assert sorted(p.name for p in dotfiles.iterdir()) == ["aws-config", "aws-credentials"]  # no temporary or lock


def test_a_file_that_cannot_be_written_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "credentials"
    path.write_text("[other]\nregion = eu-west-1\n")

    def immutable(source: object, destination: object) -> None:  # chattr +i, a read-only or full file system
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(awsfiles.os, "replace", immutable)
    with pytest.raises(BrokerError, match=r"^cannot write .*/credentials(\.bak)?: Operation not permitted$"):
        awsfiles.write_credentials_profile(path, "dev", credentials())
    assert not list(tmp_path.glob("*.tmp"))  # no temporary file left behind


def test_concurrent_refreshes_of_two_profiles_keep_both_sections(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "credentials"
    path.write_text("[other]\naws_access_key_id = AKIAOTHER\n")
    read = awsfiles.read_exactly

    def slow_read(file: Path) -> str:
        text = read(file)
        time.sleep(0.2)  # a large file: the other refresh reads the same old text meanwhile
        return text

    monkeypatch.setattr(awsfiles, "read_exactly", slow_read)
    refreshes = [
        threading.Thread(target=awsfiles.write_credentials_profile, args=(path, name, credentials(key)))
        for name, key in (("a", "ASIAAAAAAAAAAAAAAAAA"), ("b", "ASIABBBBBBBBBBBBBBBB"))
    ]
    for refresh in refreshes:
        refresh.start()
    for refresh in refreshes:
        refresh.join(timeout=10)
    parsed = configparser.RawConfigParser()
    parsed.read(path)
    assert parsed["a"]["aws_access_key_id"] == "ASIAAAAAAAAAAAAAAAAA"
    assert parsed["b"]["aws_access_key_id"] == "ASIABBBBBBBBBBBBBBBB"
    assert parsed["other"]["aws_access_key_id"] == "AKIAOTHER"


LONG_LIVED = "[dev]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI\n"


def test_long_lived_keys_in_the_section_are_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "credentials"
    path.write_text(LONG_LIVED)
    with pytest.raises(BrokerError, match=r"^\[dev\] in .*credentials holds long-lived access keys .*--profile OTHER"):
        awsfiles.write_credentials_profile(path, "dev", credentials())
    with pytest.raises(BrokerError, match="long-lived"):
        awsfiles.check_credentials_profile(path, "dev")
    assert path.read_text() == LONG_LIVED
    awsfiles.check_credentials_profile(path, "prod")  # another section is free
    awsfiles.check_credentials_profile(tmp_path / "none", "dev")


def test_each_write_keeps_the_previous_file_as_a_private_backup(tmp_path: Path) -> None:
    path = tmp_path / "credentials"
    earlier = "[dev]\naws_access_key_id = ASIAOTHERTOOL\naws_secret_access_key = s\naws_session_token = t\n"
    path.write_text(earlier)
    path.chmod(0o644)
    awsfiles.write_credentials_profile(path, "dev", credentials())  # temporary keys of another tool: replaced
    backup = tmp_path / "credentials.bak"
    assert backup.read_text() == earlier and stat.S_IMODE(backup.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    "by_hand",
    [
        LONG_LIVED,  # put back by `aws configure` after the broker's were removed
        "[dev]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = x\naws_session_token = old\n",
    ],
    ids=["keys-only", "over-the-brokers-token"],
)
def test_logout_leaves_long_lived_keys_alone(tmp_path: Path, by_hand: str) -> None:
    path = tmp_path / "credentials"
    path.write_text(by_hand)
    assert awsfiles.remove_credentials_profile(path, "dev") == "kept"
    assert path.read_text() == by_hand
    with pytest.raises(BrokerError, match="long-lived"):
        awsfiles.write_credentials_profile(path, "dev", credentials())
