"""Sign-in refusals are classes named as their codes, carrying the status their page is answered with."""

from __future__ import annotations

import pytest

from broker.errors import BrokerError
from broker.services.federation import (
    BadCsrf,
    BadDuration,
    FederationError,
    NoSession,
    ProviderMisconfigured,
    RoleNotPermitted,
    UnknownProvider,
)


@pytest.mark.parametrize(
    ("error_class", "status"),
    [
        (UnknownProvider, 404),
        (ProviderMisconfigured, 503),
        (NoSession, 401),
        (BadCsrf, 403),
        (RoleNotPermitted, 403),
        (BadDuration, 400),
    ],
)
def test_each_refusal_carries_its_code_and_status(error_class: type[FederationError], status: int) -> None:
    error = error_class("Please sign in again.")
    assert isinstance(error, FederationError) and isinstance(error, BrokerError)
    assert (error.code, error.status, error.message) == (error_class.__name__, status, "Please sign in again.")
