"""The numbered role prompt: numbers, names and ARNs, and names found in several accounts."""

from __future__ import annotations

import pytest

from broker.cli import sso_session
from broker.cli.oauth import BrokerHttp
from broker.cli.role_choice import RoleChoice, ask_role, matches

CHOICES = [
    RoleChoice("arn:aws:iam::111111111111:role/Admin", "prod"),
    RoleChoice("arn:aws:iam::222222222222:role/Admin", "222222222222"),
    RoleChoice("arn:aws:iam::111111111111:role/teams/ReadOnly", "prod"),
]


@pytest.mark.parametrize(
    ("answer", "found"),
    [
        ("1", [0]),
        (" 3 ", [2]),
        ("0", []),
        ("4", []),
        ("readonly", [2]),
        ("TEAMS/READONLY", [2]),
        ("arn:aws:iam::222222222222:role/admin", [1]),
        ("admin", [0, 1]),
        ("Admi", []),
        ("", []),
    ],
)
def test_answers_name_roles_by_number_name_or_arn(answer: str, found: list[int]) -> None:
    assert matches(CHOICES, answer) == found


def test_an_ambiguous_name_is_asked_again_with_the_accounts_shown() -> None:
    answers = iter(["nothing", "Admin", "2"])
    said: list[str] = []
    picked = ask_role(CHOICES, lambda: next(answers), said.append)
    assert picked == CHOICES[1]
    assert "  1. arn:aws:iam::111111111111:role/Admin  (prod)" in said
    assert any("'nothing' is none of these" in line for line in said)
    ambiguous = said.index("'Admin' is a role in several accounts; answer with its number or ARN:")
    assert said[ambiguous + 1 :] == [
        "  1. arn:aws:iam::111111111111:role/Admin  (prod)",
        "  2. arn:aws:iam::222222222222:role/Admin  (222222222222)",
    ]


def test_the_sso_session_prompt_takes_a_role_name(monkeypatch: pytest.MonkeyPatch) -> None:
    listed = {
        "/assignment/accounts?max_result=100": {"accountList": [{"accountId": "111111111111"}]},
        "/assignment/roles?account_id=111111111111&max_result=100": {
            "roleList": [{"roleName": "Admin"}, {"roleName": "ReadOnly"}]
        },
    }
    monkeypatch.setattr(sso_session, "_call", lambda broker, method, path, headers=None: listed[path])
    monkeypatch.setattr(sso_session.sys.stdin, "isatty", lambda: True)
    answers = iter(["readonly"])
    monkeypatch.setattr(sso_session.click, "prompt", lambda *args, **kwargs: next(answers))
    broker = BrokerHttp("https://sso.example.com")
    assert sso_session._choose_role(broker, "token", None) == ("111111111111", "ReadOnly")
