"""Profiles in config.toml: round trip, validation, broker URLs."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from broker.cli.errors import BrokerError
from broker.cli.profiles import Profile, load_profiles, normalise_url, save_profile


def test_profiles_round_trip_through_toml(tmp_path: Path) -> None:
    path = tmp_path / "broker" / "config.toml"
    tricky = Profile("dev.team-1", "https://sso.example.com", 'arn:aws:iam::1:role/a"b\\c', 3600, "okta\u0007", True)
    save_profile(tricky, path)
    save_profile(Profile("prod", "https://sso.example.com"), path)
    assert load_profiles(path) == {"dev.team-1": tricky, "prod": Profile("prod", "https://sso.example.com")}
    assert tomllib.loads(path.read_text())["profiles"]["prod"] == {"url": "https://sso.example.com"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[profiles.dev]\nurl = "https://x"\nrole = "typo"\n', "unknown key 'role'"),
        ('[profiles.dev]\nurl = "https://x"\nduration_seconds = "3600"\n', "must be a int"),
        ('[profiles.dev]\nrole_arn = "x"\n', "has no url"),
        ("[other]\n", "only [profiles.NAME]"),
        ("[profiles.dev\n", "cannot be read"),
    ],
)
def test_a_broken_config_names_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(BrokerError, match=message.replace("[", r"\[").replace("(", r"\(")):
        load_profiles(path)


def test_broker_urls() -> None:
    assert normalise_url(" https://sso.example.com/ ") == "https://sso.example.com"
    assert normalise_url("https://sso.example.com/broker") == "https://sso.example.com/broker"
    assert normalise_url("http://127.0.0.1:8000") == "http://127.0.0.1:8000"
    assert normalise_url("http://localhost:8000/") == "http://localhost:8000"
    assert normalise_url("http://[::1]:8000") == "http://[::1]:8000"
    for bad in ("http://sso.example.com", "sso.example.com", "https://u@sso.example.com", "https://x:notaport"):
        with pytest.raises(BrokerError):
            normalise_url(bad)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://192.0.2.2:8000", "clear text"),
        ("http://sso.example.com", "clear text"),
        ("ftp://sso.example.com", "must be an http"),
        ("https://u@sso.example.com", "user name"),
    ],
)
def test_a_url_edited_into_the_file_is_checked_as_the_option_is(tmp_path: Path, url: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f'[profiles.dev]\nurl = "{url}"\n')
    with pytest.raises(BrokerError, match=r"\[profiles\.dev\] url .*" + message):
        load_profiles(path)


def test_a_url_in_the_file_is_used_as_normalised(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[profiles.dev]\nurl = " https://sso.example.com/ "\n[profiles.lab]\nurl = "http://127.0.0.1:8000"\n'
    )
    assert {name: p.url for name, p in load_profiles(path).items()} == {
        "dev": "https://sso.example.com",
        "lab": "http://127.0.0.1:8000",
    }
