"""The credentials cache: owner-only files, written atomically, loose permissions refused."""

from __future__ import annotations

import datetime as dt
import errno
import os
import stat
from pathlib import Path

import pytest

from broker.cli import cache
from broker.cli.errors import BrokerError

NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


def credentials(key: str = "ASIAEXAMPLEEXAMPLE01") -> cache.Credentials:
    return cache.Credentials(
        access_key_id=key,
        secret_access_key="s" * 40,
        session_token="token.value.sig",
        expiration=NOW + dt.timedelta(hours=1),
        role_arn="arn:aws:iam::123456789012:role/Engineer",
        assumed_role_arn="arn:aws:sts::123456789012:assumed-role/Engineer/dave",
        account_id="123456789012",
        region="us-east-1",
        url="https://sso.example.com",
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_files_and_directories_are_private_even_with_a_permissive_umask(home: Path) -> None:
    old = os.umask(0o000)
    try:
        cache.write_credentials("dev", credentials())
    finally:
        os.umask(old)
    path = cache.credentials_path("dev")
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700 and mode(path.parent.parent) == 0o700
    assert path.parent.parent == home / ".cache" / "broker"
    assert cache.read_credentials("dev") == credentials()
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_an_existing_loose_cache_directory_is_tightened(home: Path) -> None:
    (home / ".cache" / "broker").mkdir(parents=True, mode=0o755)
    (home / ".cache" / "broker").chmod(0o755)
    cache.write_credentials("dev", credentials())
    assert mode(home / ".cache" / "broker") == 0o700


def test_a_file_others_can_read_is_refused(home: Path) -> None:
    cache.write_credentials("dev", credentials())
    cache.credentials_path("dev").chmod(0o644)
    with pytest.raises(BrokerError, match="readable by other users"):
        cache.read_credentials("dev")


def test_a_symlink_in_place_of_the_file_is_refused(home: Path, tmp_path: Path) -> None:
    cache.write_credentials("dev", credentials())
    target = tmp_path / "elsewhere.json"
    target.write_text("{}")
    path = cache.credentials_path("dev")
    path.unlink()
    path.symlink_to(target)
    with pytest.raises(BrokerError, match="not a regular file"):
        cache.read_credentials("dev")


def test_rewriting_replaces_and_damaged_entries_read_as_missing(home: Path) -> None:
    cache.write_credentials("dev", credentials())
    cache.write_credentials("dev", credentials("ASIAEXAMPLEEXAMPLE02"))
    found = cache.read_credentials("dev")
    assert found is not None and found.access_key_id == "ASIAEXAMPLEEXAMPLE02"
    cache.credentials_path("dev").write_text("{not json")
    assert cache.read_credentials("dev") is None
    assert cache.delete_credentials("dev") is True and cache.delete_credentials("dev") is False


@pytest.mark.parametrize(
    "damage",
    [
        {"expiration": None},
        {"expiration": 1764504000},
        {"expiration": "tomorrow"},
        {"access_key_id": None},
        {"region": ["us-east-1"]},
        {"unknown_field": "x"},
    ],
)
def test_a_damaged_entry_of_any_shape_reads_as_none(home: Path, damage: dict[str, object]) -> None:
    cache.write_credentials("dev", credentials())
    record = {**credentials().to_json(), **damage}
    cache.write_private(cache.credentials_path("dev"), record)
    assert cache.read_credentials("dev") is None
    session = cache.BrokerSession("https://sso.example.com", "handle", NOW, "dave", "arn:p")
    cache.write_private(cache.session_path(session.url), {**session.to_json(), "expires_at": damage.get("expiration")})
    assert cache.read_session(session.url) is None


def test_broker_sessions_are_kept_per_url(home: Path) -> None:
    session = cache.BrokerSession("https://a.example", "handle", NOW, "dave", "arn:aws:iam::1:saml-provider/x")
    cache.write_session(session)
    assert cache.read_session("https://a.example") == session
    assert cache.read_session("https://b.example") is None
    assert mode(cache.session_path("https://a.example")) == 0o600


def test_credential_process_json_is_the_aws_version_1_shape() -> None:
    assert credentials().credential_process_json() == {
        "Version": 1,
        "AccessKeyId": "ASIAEXAMPLEEXAMPLE01",
        "SecretAccessKey": "s" * 40,
        "SessionToken": "token.value.sig",
        "Expiration": "2026-11-30T13:00:00Z",
    }


def test_a_cache_that_cannot_be_written_is_one_line(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def immutable(source: object, destination: object) -> None:  # root-owned after `sudo broker login`, full disk
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(cache.os, "replace", immutable)
    with pytest.raises(BrokerError, match=r"^cannot write .*/credentials/dev\.json: Operation not permitted$"):
        cache.write_credentials("dev", credentials())
    assert not list(cache.credentials_path("dev").parent.iterdir())  # no temporary file left


SIGN_IN = {
    "AccessKeyId": "ASIAEXAMPLEEXAMPLE01",
    "SecretAccessKey": "s" * 40,
    "SessionToken": "token.value.sig",
    "Expiration": "2026-11-30T13:00:00Z",
    "refresh_token": "handle",
    "refresh_token_expires_at": "2026-11-30T20:00:00Z",
    "Subject": "dave",
}


@pytest.mark.parametrize("expires_at", [None, "tomorrow", 1764504000, "absent"])
def test_a_sign_in_with_a_malformed_session_expiry_is_one_line_and_stores_nothing(
    home: Path, expires_at: object
) -> None:
    from broker.cli.profiles import Profile
    from broker.cli.refresh import remember

    body = {**SIGN_IN, "refresh_token_expires_at": expires_at}
    if expires_at == "absent":
        del body["refresh_token_expires_at"]
    with pytest.raises(BrokerError, match="refresh_token_expires_at missing or not an ISO 8601 time"):
        remember(Profile("dev", "https://sso.example.com"), body)
    assert cache.read_credentials("dev") is None and cache.read_session("https://sso.example.com") is None


def test_a_well_formed_sign_in_is_read_whole() -> None:
    credentials_read, session = cache.read_token_response(SIGN_IN, "https://sso.example.com")
    assert credentials_read.access_key_id == "ASIAEXAMPLEEXAMPLE01"
    assert session == cache.BrokerSession("https://sso.example.com", "handle", NOW + dt.timedelta(hours=8), "dave", "")
    refreshed = {k: v for k, v in SIGN_IN.items() if not k.startswith("refresh_token")}
    assert cache.read_token_response(refreshed, "https://sso.example.com")[1] is None
