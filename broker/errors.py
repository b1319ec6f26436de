"""The root of every refusal the broker answers with.

Errors are types: each carries its stable ``code``, the HTTP ``status`` it is answered with and a
``message`` safe to show the caller. They are raised anywhere below the web layer and rendered
in one place per wire protocol (AWS Query XML, AWS JSON, OAuth JSON, an HTML page). Code that
needs to tell refusals apart tests their class, never their message.
"""

from __future__ import annotations

from typing import Any


class BrokerError(Exception):
    """A refusal with a code, an HTTP status and a message for the caller."""

    code: str = "BrokerError"
    status: int = 400
    message: str = ""
    # Whether after_rollback writes anything (then the refusal's event commits with it).
    leaves_state: bool = False

    def __init__(self, message: str | None = None) -> None:
        if message is not None:
            self.message = message
        super().__init__(self.message)

    def after_rollback(self, tx: Any) -> None:
        """What the refusal leaves behind once its request rolled back, written in the transaction
        that audits it (a wrong MFA code counts toward throttling); nothing by default. ``tx`` is
        the store's transaction handle, which this bottom module does not name."""

    @property
    def audit_message(self) -> str:
        """What the audit trail records: the message, unless the operator must see more."""
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r})"


class DatabaseUnavailable(BrokerError):
    """The database cannot be connected to (down, unreachable, or refusing the credentials)."""

    code = "ServiceUnavailable"
    status = 503
