"""Credentials as environment variables, in the syntax of each shell."""

from __future__ import annotations

import json
import shlex

from broker.cli.cache import Credentials, iso

FORMATS = ("bash", "fish", "powershell", "json")

# The AWS APIs the broker serves (broker/services/api/registry.py SERVICES), as the suffixes of
# the SDKs' service-specific endpoint variables. Only these point at the broker: the global
# AWS_ENDPOINT_URL would send every other service (S3, EC2...) there too, where it cannot answer.
BROKER_SERVICES = ("IAM", "STS", "ORGANIZATIONS", "CLOUDTRAIL")


# What a shell may still hold from other credentials or tools that the SDKs would combine with
# these: botocore reads AWS_SECURITY_TOKEN (the legacy name of the session token) before
# AWS_SESSION_TOKEN, so a stale one signs the new keys with an old token; a global
# AWS_ENDPOINT_URL would send every service to wherever it points. AWS_PROFILE and
# AWS_DEFAULT_PROFILE stay: the SDKs' chain takes credentials from the environment before any
# profile's (only an explicit --profile or Session(profile=...) skips them), so they choose only
# settings such as the output format.
SUPERSEDED = ("AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL")


def endpoint_variables(url: str) -> dict[str, str]:
    return {f"AWS_ENDPOINT_URL_{service}": url for service in BROKER_SERVICES}


def environment(credentials: Credentials) -> dict[str, str]:
    """What the AWS SDKs and CLI read: the keys, the expiry and the broker as the endpoint of the
    services it serves."""
    return {
        "AWS_ACCESS_KEY_ID": credentials.access_key_id,
        "AWS_SECRET_ACCESS_KEY": credentials.secret_access_key,
        "AWS_SESSION_TOKEN": credentials.session_token,
        "AWS_CREDENTIAL_EXPIRATION": iso(credentials.expiration),
        **endpoint_variables(credentials.url),
    }


def _fish_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _powershell_quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def render(variables: dict[str, str], shell_format: str, *, unset: tuple[str, ...] = ()) -> str:
    """The shell's lines that remove ``unset`` and set ``variables`` (JSON: the variables only, as
    an object of strings)."""
    if shell_format == "bash":
        return "".join(f"unset {name}\n" for name in unset) + "".join(
            f"export {name}={shlex.quote(value)}\n" for name, value in variables.items()
        )
    if shell_format == "fish":
        return "".join(f"set -e {name};\n" for name in unset) + "".join(
            f"set -gx {name} {_fish_quote(value)};\n" for name, value in variables.items()
        )
    if shell_format == "powershell":
        return "".join(f"Remove-Item Env:{name} -ErrorAction SilentlyContinue\n" for name in unset) + "".join(
            f"$Env:{name} = {_powershell_quote(value)}\n" for name, value in variables.items()
        )
    if shell_format == "json":
        return json.dumps(variables, indent=2) + "\n"
    raise ValueError(f"unknown format {shell_format!r}")
