"""Errors raised while reading a policy document."""

from __future__ import annotations


class MalformedPolicyDocument(ValueError):
    """The document breaks the policy grammar; the message names the place.

    Callers on the AWS endpoint map it to the ``MalformedPolicyDocument`` error
    code, so the message is written for the administrator who sent the policy.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PolicyTooLarge(MalformedPolicyDocument):
    """The document exceeds the size quota of its kind.

    A subclass so that code which only cares about "is it a valid policy" can
    catch one type, while the AWS layer maps this one to ``LimitExceeded``.
    """

    def __init__(self, message: str, *, size: int, limit: int) -> None:
        super().__init__(message)
        self.size = size
        self.limit = limit


class InvalidPolicyJson(MalformedPolicyDocument):
    """The text is not JSON at all (IAM answers this case with one fixed message)."""
