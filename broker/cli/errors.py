"""The CLI's one error type: one line on stderr, exit status 1, never a traceback or a secret."""

from __future__ import annotations

from typing import Any

import click


class BrokerError(click.ClickException):
    """One line on stderr and exit status 1."""

    def show(self, file: Any = None) -> None:
        click.echo(f"broker: {self.format_message()}", err=True)
