"""The numbered role prompt: numbers, names and ARNs, names found in several accounts, and words
(in any order) of the role's or account's name, as the role page's filter takes them."""

from __future__ import annotations

import pytest

from broker.cli import sso_session
from broker.cli.oauth import BrokerHttp
from broker.cli.role_choice import RoleChoice, ask_role, matches

CHOICES = [
    RoleChoice("arn:aws:iam::111111111111:role/Admin", "111111111111", "prod", "Production"),
    RoleChoice("arn:aws:iam::222222222222:role/Admin", "222222222222"),
    RoleChoice("arn:aws:iam::111111111111:role/teams/ReadOnly", "111111111111", "prod", "Production", "auditors"),
]


@pytest.mark.parametrize(
    ("answer", "found"),
    [
        ("1", [0]),
        (" 3 ", [2]),
        ("0", []),
        ("4", []),
        ("11", []),  # a number out of range names nothing, though ARNs hold its digits
        ("readonly", [2]),
        ("TEAMS/READONLY", [2]),
        ("arn:aws:iam::222222222222:role/admin", [1]),
        ("admin", [0, 1]),
        ("", []),
        # No exact name: every word, in any order, over role name, ARN, account id, alias, name, description.
        ("Admi", [0, 1]),
        ("production", [0, 2]),
        ("admin product", [0]),
        ("PROD read", [2]),
        ("auditors", [2]),
        ("222222222222", [1]),
        ("111111111111", [0, 2]),
        ("staging admin", []),
    ],
)
def test_answers_name_roles_by_number_name_arn_or_words(answer: str, found: list[int]) -> None:
    assert matches(CHOICES, answer) == found


def test_an_ambiguous_answer_is_asked_again_with_the_roles_it_matches() -> None:
    answers = iter(["nothing", "Admin", "production", "product admin"])
    said: list[str] = []
    picked = ask_role(CHOICES, lambda: next(answers), said.append)
    assert picked == CHOICES[0]
    assert said[:3] == [
        "  1. arn:aws:iam::111111111111:role/Admin  (Production, prod)",
        "  2. arn:aws:iam::222222222222:role/Admin  (222222222222)",
        "  3. arn:aws:iam::111111111111:role/teams/ReadOnly  (Production, prod)",
    ]
    assert said[3].startswith("'nothing' is none of these; answer with a number (1-3), a role or account name")
    ambiguous = said.index("'Admin' is a role in several accounts; answer with its number or ARN:")
    assert said[ambiguous + 1 : ambiguous + 3] == [
        "  1. arn:aws:iam::111111111111:role/Admin  (Production, prod)",
        "  2. arn:aws:iam::222222222222:role/Admin  (222222222222)",
    ]
    narrowed = said.index("'production' matches 2 roles; answer with its number, or more words:")
    assert said[narrowed + 1 :] == [
        "  1. arn:aws:iam::111111111111:role/Admin  (Production, prod)",
        "  3. arn:aws:iam::111111111111:role/teams/ReadOnly  (Production, prod)",
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


def test_the_sso_session_prompt_takes_words_of_the_account_name(monkeypatch: pytest.MonkeyPatch) -> None:
    accounts = [{"accountId": "111111111111", "accountName": "Production"}, {"accountId": "222222222222"}]
    listed = {
        "/assignment/accounts?max_result=100": {"accountList": accounts},
        "/assignment/roles?account_id=111111111111&max_result=100": {"roleList": [{"roleName": "Admin"}]},
        "/assignment/roles?account_id=222222222222&max_result=100": {"roleList": [{"roleName": "Admin"}]},
    }
    monkeypatch.setattr(sso_session, "_call", lambda broker, method, path, headers=None: listed[path])
    monkeypatch.setattr(sso_session.sys.stdin, "isatty", lambda: True)
    answers = iter(["admin", "admin production"])
    monkeypatch.setattr(sso_session.click, "prompt", lambda *args, **kwargs: next(answers))
    broker = BrokerHttp("https://sso.example.com")
    assert sso_session._choose_role(broker, "token", None) == ("111111111111", "Admin")
