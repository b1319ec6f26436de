"""Device user codes (RFC 8628 6.1), as the broker draws, shows and reads them back."""

from __future__ import annotations

import math

import pytest

from broker.services.cli_auth import user_codes
from broker.services.cli_auth.user_codes import (
    USER_CODE_ALPHABET,
    display_user_code,
    new_user_code,
    normalise_user_code,
)


def test_user_codes_are_eight_base20_consonants_shown_in_two_halves() -> None:
    # No vowel (no words form) and no digit (nothing to mistake for O, I, S, Z or B).
    assert len(set(USER_CODE_ALPHABET)) == 20 and not set(USER_CODE_ALPHABET) & set("AEIOUY0123456789")
    codes = {new_user_code() for _ in range(2000)}
    assert len(codes) == 2000
    assert all(len(c) == 8 and set(c) <= set(USER_CODE_ALPHABET) for c in codes)
    assert math.log2(len(USER_CODE_ALPHABET) ** 8) > 34
    assert display_user_code("WDJBMJHT") == "WDJB-MJHT"


def test_the_entropy_holds_against_the_lockout() -> None:
    # The brute-force odds the module's docstring promises: a million addresses, each locked out
    # after MAX_WRONG_CODES per code lifetime, find one given code with a chance under 1e-3.
    space = len(USER_CODE_ALPHABET) ** user_codes.USER_CODE_LENGTH
    tries = 1_000_000 * user_codes.MAX_WRONG_CODES
    assert user_codes.WRONG_CODE_WINDOW >= user_codes.WRONG_CODE_LOCKOUT
    assert tries / space < 1e-3


@pytest.mark.parametrize(
    "typed",
    [
        "WDJB-MJHT",
        "wdjb-mjht",
        "WDJBMJHT",
        " wdjb mjht ",
        "WDJB--MJHT",
        "WDJB_MJHT",
        "wdjb.mjht",
        "(WDJB) MJHT!",
        "WDJB\u2013MJHT",  # en dash, as some terminals and chat apps paste a dash
        "WDJB\u00a0MJHT",  # no-break space
        "W-D-J-B-M-J-H-T",
        "\tWDJB/MJHT\n",
    ],
)
def test_what_people_type_is_normalised(typed: str) -> None:
    assert normalise_user_code(typed) == "WDJBMJHT"


@pytest.mark.parametrize(
    "typed",
    [
        None,
        "",
        "WDJB-MJH",
        "WDJB-MJHTX",
        "WDJA-MJHT",  # a vowel
        "WDJB-MJH1",  # a digit
        "WDJB-MJH\u0663",  # an Arabic-Indic digit
        "WDJB-MJH\u0422",  # Cyrillic capital TE, which looks like T
        "WDJB-MJH\uff34",  # fullwidth T
        "WDJB-MJH\u017f",  # long s: its upper case is an ASCII S
        "WDJB-MJHT" + "-" * 60,  # longer than anyone types
        "WDJB+MJHT\u0000",  # a control character
    ],
)
def test_impossible_codes_are_refused(typed: str | None) -> None:
    assert normalise_user_code(typed) is None
