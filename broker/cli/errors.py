"""The CLI's error types: one line on stderr, exit status 1, never a traceback or a secret."""

from __future__ import annotations

from typing import Any

import click


class BrokerError(click.ClickException):
    """One line on stderr and exit status 1."""

    def show(self, file: Any = None) -> None:
        click.echo(f"broker: {self.format_message()}", err=True)


class TokenError(BrokerError):
    """An RFC 6749 error from the broker: ``error`` is the code, the message its description."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
