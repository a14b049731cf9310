"""The CLI's bucket list parser: `3`, `0-4`, `0-4,7,9`."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eraft_trio.roles.config.bucket_ranges import format_buckets, parse_buckets


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3", (3,)),
        ("0-4", (0, 1, 2, 3, 4)),
        ("0-4,7,9", (0, 1, 2, 3, 4, 7, 9)),
        ("9,7,0-1", (0, 1, 7, 9)),
        ("2-2", (2,)),
        ("1-3,2-4", (1, 2, 3, 4)),
        (" 1 , 2 ", (1, 2)),
    ],
)
def test_parse_buckets_accepts(text: str, expected: tuple[int, ...]) -> None:
    assert parse_buckets(text, 10) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "is not N or N-M"),
        ("1,,2", "is not N or N-M"),
        ("-1", "is not N or N-M"),
        ("a", "is not N or N-M"),
        ("1-", "is not N or N-M"),
        ("1-2-3", "is not N or N-M"),
        ("٣", "is not N or N-M"),  # a non-ASCII digit int() would accept
        ("4-0", "greater than"),
        ("10", "out of range 0-9"),
        ("0-99999999999999", "out of range 0-9"),
    ],
)
def test_parse_buckets_rejects(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment) as raised:
        parse_buckets(text, 10)
    assert "\n" not in str(raised.value)


def test_parse_buckets_needs_a_positive_bucket_count() -> None:
    with pytest.raises(ValueError, match="positive"):
        parse_buckets("0", 0)


@given(st.sets(st.integers(0, 63), min_size=1))
def test_format_then_parse_round_trips(buckets: set[int]) -> None:
    text = format_buckets(tuple(buckets))
    assert parse_buckets(text, 64) == tuple(sorted(buckets))


def test_format_buckets_is_compact() -> None:
    assert format_buckets((9, 0, 1, 2, 3, 4, 7)) == "0-4,7,9"
