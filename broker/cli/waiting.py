"""What the CLI shows while it waits for a person (the browser sign-in, a device approval), and
how Ctrl-C ends the wait: one line, exit status 130 (128 + SIGINT, as a shell reports it)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

import click

INTERRUPTED = 130


def remaining_text(seconds: float) -> str:
    whole = max(0, int(seconds + 0.999))
    return f"{whole // 60}:{whole % 60:02d}"


class Progress:
    """One status line: rewritten in place on a terminal; elsewhere (CI logs, pipes) a plain line
    at the start and then every ``every`` seconds, so a log is not flooded."""

    def __init__(self, stream: TextIO, *, every: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.every = every
        self.clock = clock
        self.shown = False
        self.last_plain: float | None = None

    def update(self, doing: str, seconds_left: float) -> None:
        text = f"{doing}: {remaining_text(seconds_left)} left (Ctrl-C to cancel)"
        if self.tty:
            self.stream.write("\r\x1b[K" + text)
            self.stream.flush()
            self.shown = True
            return
        now = self.clock()
        if self.last_plain is None or now - self.last_plain >= self.every:
            self.stream.write(text + "\n")
            self.stream.flush()
            self.last_plain = now

    def done(self) -> None:
        if self.tty and self.shown:
            self.stream.write("\r\x1b[K")  # clear the status line (and the ^C the terminal echoed on it)
            self.stream.flush()
            self.shown = False


@contextmanager
def ctrl_c_ends(what: str) -> Iterator[None]:
    """Ctrl-C inside the block: one line on stderr and exit status 130, no traceback."""
    try:
        yield
    except KeyboardInterrupt:
        click.echo(f"broker: {what} cancelled (Ctrl-C); nothing was stored", err=True)
        raise click.exceptions.Exit(INTERRUPTED) from None
