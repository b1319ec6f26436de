"""Child processes that Ctrl-C reaches as it would from a terminal."""

from __future__ import annotations

import signal


def interruptible() -> None:
    """``preexec_fn`` for a child a test sends SIGINT: the signal's default disposition, so Python
    in the child turns it into KeyboardInterrupt. An ignored signal stays ignored across exec, and
    pytest-xdist's workers ignore SIGINT (their controller handles Ctrl-C), so a child started
    from one would otherwise never see it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
