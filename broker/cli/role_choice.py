"""The numbered role prompt: a person answers with the number, the role's name or its ARN, or, as
in the role page's filter, with words (in any order) of the role's or the account's name."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

ACCOUNT_ID_LENGTH = 12
ROLE_PROMPT = "Role (number, name, ARN, or words to narrow the list)"


@dataclass(frozen=True)
class RoleChoice:
    arn: str
    account_id: str
    account_alias: str | None = None
    account_name: str | None = None  # the account's name in Organizations, when it has one
    description: str = ""

    @property
    def name(self) -> str:
        return self.arn.rpartition("/")[2]

    @property
    def path_and_name(self) -> str:
        return self.arn.partition(":role/")[2]

    @property
    def account(self) -> str:
        """The account as the list shows it: its name and alias when it has them, else its id."""
        labels = dict.fromkeys(label for label in (self.account_name, self.account_alias) if label)
        return ", ".join(labels) or self.account_id

    @property
    def filter_text(self) -> str:
        """What words of an answer are looked for in: as the role page's filter, casefolded."""
        fields = (self.name, self.arn, self.account_id, self.account_alias, self.account_name, self.description)
        return " ".join(field for field in fields if field).casefold()


def exact_matches(choices: Sequence[RoleChoice], answer: str) -> list[int]:
    """Indexes of the choices ``answer`` names exactly: a number (1-based), an ARN, a path and name
    or a name, case-insensitively."""
    text = answer.strip()
    if text.isdigit():
        number = int(text)
        return [number - 1] if 1 <= number <= len(choices) else []
    folded = text.casefold()
    keys: tuple[Callable[[RoleChoice], str], ...] = (
        lambda c: c.arn,
        lambda c: c.path_and_name,
        lambda c: c.name,
    )
    for key in keys:
        found = [i for i, choice in enumerate(choices) if key(choice).casefold() == folded]
        if found:
            return found
    return []


def filter_matches(choices: Sequence[RoleChoice], answer: str) -> list[int]:
    """Indexes of the choices whose text holds every word of ``answer``, in any order (the page's filter)."""
    words = answer.casefold().split()
    if not words:
        return []
    return [i for i, choice in enumerate(choices) if all(word in choice.filter_text for word in words)]


def matches(choices: Sequence[RoleChoice], answer: str) -> list[int]:
    """Indexes of the choices ``answer`` names exactly; failing that, those its words filter to. A
    number out of range names nothing (not the roles whose ARN holds its digits), unless it is an
    account's id."""
    found = exact_matches(choices, answer)
    if found or (answer.strip().isdigit() and len(answer.strip()) != ACCOUNT_ID_LENGTH):
        return found
    return filter_matches(choices, answer)


def list_choices(choices: Sequence[RoleChoice], indexes: Sequence[int], say: Callable[[str], None]) -> None:
    for i in indexes:
        say(f"  {i + 1}. {choices[i].arn}  ({choices[i].account})")


def ask_role(choices: Sequence[RoleChoice], ask: Callable[[], str], say: Callable[[str], None]) -> RoleChoice:
    """Ask until the answer names exactly one role; a name found in several accounts, or words that
    several roles hold, is asked again with those roles listed."""
    list_choices(choices, range(len(choices)), say)
    while True:
        answer = ask()
        found = matches(choices, answer)
        if len(found) == 1:
            return choices[found[0]]
        shown = answer.strip()[:80]
        if found and exact_matches(choices, answer):
            say(f"{shown!r} is a role in several accounts; answer with its number or ARN:")
            list_choices(choices, found, say)
        elif found:
            say(f"{shown!r} matches {len(found)} roles; answer with its number, or more words:")
            list_choices(choices, found, say)
        else:
            say(
                f"{shown!r} is none of these; answer with a number (1-{len(choices)}), "
                "a role or account name, or an ARN"
            )
