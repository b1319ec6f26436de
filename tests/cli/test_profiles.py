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
