"""Device user codes (RFC 8628 6.1), as the broker draws, shows and reads them back."""

from __future__ import annotations

import math

import pytest

from broker.services.cli_auth.user_codes import (
    USER_CODE_ALPHABET,
    display_user_code,
    new_user_code,
    normalise_user_code,
)


def test_user_codes_are_eight_base20_consonants_shown_in_two_halves() -> None:
    assert len(set(USER_CODE_ALPHABET)) == 20 and not set(USER_CODE_ALPHABET) & set("AEIOUY")
    codes = {new_user_code() for _ in range(2000)}
    assert len(codes) == 2000
    assert all(len(c) == 8 and set(c) <= set(USER_CODE_ALPHABET) for c in codes)
    assert math.log2(len(USER_CODE_ALPHABET) ** 8) > 34
    assert display_user_code("WDJBMJHT") == "WDJB-MJHT"


@pytest.mark.parametrize("typed", ["WDJB-MJHT", "wdjb-mjht", "WDJBMJHT", " wdjb mjht ", "WDJB--MJHT"])
def test_what_people_type_is_normalised(typed: str) -> None:
    assert normalise_user_code(typed) == "WDJBMJHT"


@pytest.mark.parametrize("typed", ["", "WDJB-MJH", "WDJB-MJHTX", "WDJA-MJHT", "WDJB-MJH1", "WDJB_MJHT"])
def test_impossible_codes_are_refused(typed: str) -> None:
    assert normalise_user_code(typed) is None
