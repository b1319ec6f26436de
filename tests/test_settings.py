"""Settings: defaults with no file, TOML, BROKER_* overrides, every problem reported at once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from broker.settings import Settings, SettingsError, describe, load_settings


def test_defaults_need_no_file() -> None:
    settings = load_settings(environ={})
    assert settings == Settings()
    assert settings.database_url == "sqlite:///var/broker.db"
    assert settings.sp_entity_id == "http://127.0.0.1:8000/saml/metadata"
    assert settings.acs_url == "http://127.0.0.1:8000/saml/acs"
    assert settings.secure_cookies is False


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+psycopg://app:p%40ss:word@db:5432/broker", "postgresql+psycopg://app:***@db:5432/broker"),
        ("postgresql://app@db/broker?options=-c%20x", "postgresql://app@db/broker?options=-c%20x"),
        ("sqlite:///var/broker.db", "sqlite:///var/broker.db"),
    ],
)
def test_the_database_url_is_shown_without_its_password(url: str, shown: str) -> None:
    assert Settings(database_url=url).database_url_shown == shown


def test_toml_then_environment(tmp_path: Path) -> None:
    config = tmp_path / "broker.toml"
    config.write_text('base_url = "https://sso.example.com"\nport = 9000\nsaml_sha1_providers = ["legacy"]\n')
    settings = load_settings(
        config,
        environ={
            "BROKER_PORT": "9100",
            "BROKER_SAML_ALLOW_UNSOLICITED": "false",
            "BROKER_DATABASE_URL": "postgresql+psycopg://u@db/broker",
        },
    )
    assert settings.base_url == "https://sso.example.com"
    assert settings.port == 9100  # environment wins over the file
    assert settings.saml_allow_unsolicited is False
    assert settings.saml_sha1_providers == ("legacy",)
    assert settings.database_url.startswith("postgresql+psycopg://")
    assert settings.secure_cookies is True


def test_config_file_from_environment(tmp_path: Path) -> None:
    config = tmp_path / "b.toml"
    config.write_text('default_account_id = "210987654321"\n')
    assert load_settings(environ={"BROKER_CONFIG": str(config)}).default_account_id == "210987654321"


def test_every_problem_is_reported_once(tmp_path: Path) -> None:
    config = tmp_path / "broker.toml"
    config.write_text('base_url = "ftp://x/"\nport = "eighty"\nunknown_key = 1\n')
    with pytest.raises(SettingsError) as raised:
        load_settings(config, environ={"BROKER_DEMO": "maybe", "BROKER_NOPE": "1"})
    problems = raised.value.problems
    assert len(problems) == 5  # four that do not parse and base_url, which parses but is no http(s) URL
    joined = "\n".join(problems)
    assert "unknown setting 'unknown_key'" in joined
    assert "port: expected an integer" in joined
    assert "BROKER_DEMO: expected true or false" in joined
    assert "unknown setting BROKER_NOPE" in joined
    assert "base_url: must be an absolute http(s) URL" in joined


def test_semantic_validation_lists_each_problem() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(
            environ={
                "BROKER_BASE_URL": "http://sso.example.com/",
                "BROKER_DEFAULT_ACCOUNT_ID": "12",
                "BROKER_DATABASE_URL": "mysql://x",
            }
        )
    text = "\n".join(raised.value.problems)
    assert "base_url: must not end with '/'" in text
    assert "default_account_id: must be 12 digits" in text
    assert "database_url" in text


@pytest.mark.parametrize(
    ("prefix", "accepted"), [("48", True), ("64", True), ("128", True), ("47", False), ("129", False)]
)
def test_the_ipv6_rate_limit_prefix_is_checked(prefix: str, accepted: bool) -> None:
    environ = {"BROKER_RATE_LIMIT_IPV6_PREFIX": prefix}
    if accepted:
        assert load_settings(environ=environ).rate_limit_ipv6_prefix == int(prefix)
        return
    with pytest.raises(SettingsError) as raised:
        load_settings(environ=environ)
    assert raised.value.problems == [f"rate_limit_ipv6_prefix: must be 48..128, got {prefix}"]


def test_provider_lists_hold_provider_names(tmp_path: Path) -> None:
    config = tmp_path / "broker.toml"
    config.write_text('saml_sha1_providers = ["legacy-adfs", ""]\nsaml_cbc_providers = ["Entra.Prod_1"]\n')
    with pytest.raises(SettingsError) as raised:
        load_settings(
            config,
            environ={
                "BROKER_SAML_REFUSE_UNSOLICITED_PROVIDERS": "Corp, corp adfs, corp;adfs",
                "BROKER_SAML_CBC_PROVIDERS": "entra," + "x" * 129,
            },
        )
    rule = (
        "is not a SAML provider name (letters, digits, '.', '_' and '-', up to 128 characters; "
        "separate names with commas)"
    )
    assert raised.value.problems == [
        f"saml_sha1_providers: '' {rule}",
        f"saml_cbc_providers: '{'x' * 129}' {rule}",
        f"saml_refuse_unsolicited_providers: 'corp adfs' {rule}",
        f"saml_refuse_unsolicited_providers: 'corp;adfs' {rule}",
    ]
    settings = load_settings(config, environ={"BROKER_SAML_SHA1_PROVIDERS": "Corp,legacy.adfs_2"})
    assert settings.saml_sha1_providers == ("Corp", "legacy.adfs_2")
    assert settings.saml_cbc_providers == ("Entra.Prod_1",)


def test_demo_mode_refuses_a_public_base_url() -> None:
    with pytest.raises(SettingsError, match="demo"):
        load_settings(environ={"BROKER_DEMO": "true", "BROKER_BASE_URL": "https://sso.example.com"})


def test_demo_mode_refuses_to_listen_beyond_loopback() -> None:
    # A loopback base_url with host 0.0.0.0 gave anyone on the network DemoAdmin credentials
    # through the demo IdP's published passwords.
    demo = {"BROKER_DEMO": "true", "BROKER_BASE_URL": "http://127.0.0.1:8000"}
    every_interface = "0.0.0.0"  # noqa: S104  (the setting under test)
    with pytest.raises(SettingsError, match="listens on loopback only"):
        load_settings(environ={**demo, "BROKER_HOST": every_interface})
    assert load_settings(environ={**demo, "BROKER_HOST": "::1"}).demo
    # Behind a proxy the proxy's binding exposes it (compose publishes it on loopback only).
    assert load_settings(environ={**demo, "BROKER_HOST": every_interface, "BROKER_TRUSTED_PROXY_HOPS": "1"}).demo


def test_missing_and_broken_files() -> None:
    with pytest.raises(SettingsError, match="not found"):
        load_settings("/nonexistent/broker.toml", environ={})


def test_docs_list_every_setting() -> None:
    docs = (Path(__file__).parent.parent / "docs" / "configuration.md").read_text()
    for name, _default, env_var in describe():
        assert re.search(rf"`{name}`", docs), f"docs/configuration.md does not document {name}"
        assert env_var in docs, f"docs/configuration.md does not name {env_var}"
