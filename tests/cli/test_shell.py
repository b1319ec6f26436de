"""`broker env` formats: each one, read by its own shell where that shell is installed."""

from __future__ import annotations

import json
import subprocess

from broker.cli import shell

AWKWARD = {"AWS_ACCESS_KEY_ID": "ASIAEXAMPLE", "AWS_SESSION_TOKEN": 'it\'s $HOME `x` \\ "q" end'}


def test_bash_exports_survive_eval() -> None:
    text = shell.render(AWKWARD, "bash")
    assert text.startswith("export AWS_ACCESS_KEY_ID=ASIAEXAMPLE\n")
    out = subprocess.run(
        ["bash", "-c", 'eval "$1"; printf %s "$AWS_SESSION_TOKEN"', "-", text],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout == AWKWARD["AWS_SESSION_TOKEN"]


def test_fish_and_powershell_quoting() -> None:
    assert shell.render({"A": "it's \\"}, "fish") == "set -gx A 'it\\'s \\\\';\n"
    assert shell.render({"A": "it's $x"}, "powershell") == "$Env:A = 'it''s $x'\n"


def test_each_shell_syntax_unsets_the_superseded_variables() -> None:
    unset = ("AWS_SECURITY_TOKEN",)
    assert shell.render({"A": "1"}, "bash", unset=unset) == "unset AWS_SECURITY_TOKEN\nexport A=1\n"
    assert shell.render({"A": "1"}, "fish", unset=unset) == "set -e AWS_SECURITY_TOKEN;\nset -gx A '1';\n"
    assert shell.render({"A": "1"}, "powershell", unset=unset) == (
        "Remove-Item Env:AWS_SECURITY_TOKEN -ErrorAction SilentlyContinue\n$Env:A = '1'\n"
    )
    assert json.loads(shell.render({"A": "1"}, "json", unset=unset)) == {"A": "1"}
    assert "AWS_SECURITY_TOKEN" in shell.SUPERSEDED


def test_json_is_an_object_of_the_variables() -> None:
    assert json.loads(shell.render(AWKWARD, "json")) == AWKWARD


def test_the_variables_the_sdks_read() -> None:
    from tests.cli.test_cache import credentials

    assert shell.environment(credentials()) == {
        "AWS_ACCESS_KEY_ID": "ASIAEXAMPLEEXAMPLE01",
        "AWS_SECRET_ACCESS_KEY": "s" * 40,
        "AWS_SESSION_TOKEN": "token.value.sig",
        "AWS_CREDENTIAL_EXPIRATION": "2026-11-30T13:00:00Z",
        "AWS_ENDPOINT_URL_IAM": "https://sso.example.com",
        "AWS_ENDPOINT_URL_STS": "https://sso.example.com",
        "AWS_ENDPOINT_URL_ORGANIZATIONS": "https://sso.example.com",
        "AWS_ENDPOINT_URL_CLOUDTRAIL": "https://sso.example.com",
    }
