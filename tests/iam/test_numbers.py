"""The strict integer parser: ASCII digits only, bounded length, never an exception."""

from __future__ import annotations

import pytest

from broker.iam.numbers import is_absent, parse_ascii_int, parse_ascii_int_in_range


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0", 0), ("900", 900), ("0900", 900), ("43200", 43200), ("999999", 999999)],
)
def test_ascii_digits_parse(text: str, expected: int) -> None:
    assert parse_ascii_int(text, max_digits=6) == expected


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "²",  # superscript two: isdigit() is True, int() raises
        "3600²",
        "٣٦٠٠",  # Arabic-Indic digits: isdigit() is True, int() reads 3600
        "३६००",  # Devanagari
        "\uff13\uff16\uff10\uff10",  # fullwidth 3600
        "+900",
        "-900",
        " 900",
        "900 ",
        "900\n",
        "9_00",
        "9.0",
        "0x10",
        "1234567",  # one digit too many
        "9" * 5000,
    ],
)
def test_anything_else_is_none(text: str | None) -> None:
    assert parse_ascii_int(text, max_digits=6) is None


def test_non_ascii_digits_are_what_isdigit_lets_through() -> None:
    # The bug this module exists for: the old checks passed these to int().
    assert "²".isdigit() and "٣".isdigit()
    with pytest.raises(ValueError, match="invalid literal"):
        int("²")
    assert int("٣") == 3
    assert parse_ascii_int("²", max_digits=6) is None
    assert parse_ascii_int("٣", max_digits=6) is None


def test_max_digits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_digits"):
        parse_ascii_int("1", max_digits=0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("900", 900), ("43200", 43200), ("899", None), ("43201", None), ("0000900", None), ("٩٠٠", None)],
)
def test_in_range(text: str, expected: int | None) -> None:
    assert parse_ascii_int_in_range(text, low=900, high=43200) == expected


def test_in_range_rejects_bad_bounds() -> None:
    with pytest.raises(ValueError, match="low"):
        parse_ascii_int_in_range("1", low=5, high=4)


@pytest.mark.parametrize(("text", "absent"), [(None, True), ("", True), ("0", False), (" ", False)])
def test_is_absent(text: str | None, absent: bool) -> None:
    assert is_absent(text) is absent
