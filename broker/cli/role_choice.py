"""The numbered role prompt: a person answers with the number, the role's name or its ARN."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class RoleChoice:
    arn: str
    account: str  # the account's alias when it has one, else its id

    @property
    def name(self) -> str:
        return self.arn.rpartition("/")[2]

    @property
    def path_and_name(self) -> str:
        return self.arn.partition(":role/")[2]


def matches(choices: Sequence[RoleChoice], answer: str) -> list[int]:
    """Indexes of the choices ``answer`` names: a number (1-based), an ARN, or a name, case-insensitively."""
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


def list_choices(choices: Sequence[RoleChoice], indexes: Sequence[int], say: Callable[[str], None]) -> None:
    for i in indexes:
        say(f"  {i + 1}. {choices[i].arn}  ({choices[i].account})")


def ask_role(choices: Sequence[RoleChoice], ask: Callable[[], str], say: Callable[[str], None]) -> RoleChoice:
    """Ask until the answer names exactly one role; a name found in several accounts is asked again."""
    list_choices(choices, range(len(choices)), say)
    while True:
        answer = ask()
        found = matches(choices, answer)
        if len(found) == 1:
            return choices[found[0]]
        if found:
            say(f"{answer.strip()!r} is a role in several accounts; answer with its number or ARN:")
            list_choices(choices, found, say)
        else:
            say(
                f"{answer.strip()[:80]!r} is none of these; "
                f"answer with a number (1-{len(choices)}), a role name or an ARN"
            )
