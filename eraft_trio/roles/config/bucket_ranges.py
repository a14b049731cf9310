"""The CLI's bucket lists: `3`, `0-4`, `0-4,7,9` to a tuple of bucket numbers, and back."""

from __future__ import annotations

import re

_ITEM = re.compile(r"([0-9]+)(?:-([0-9]+))?")  # ASCII digits only: int() would take others


def parse_buckets(text: str, bucket_count: int) -> tuple[int, ...]:
    """Sorted distinct buckets named by `text`; ValueError with a one-line message if malformed.

    Every bucket must lie in 0 .. bucket_count-1. Ranges are inclusive and ascending.
    """
    if bucket_count <= 0:
        raise ValueError(f"bucket count must be positive, not {bucket_count}")
    chosen: set[int] = set()
    for item in text.split(","):
        item = item.strip()
        match = _ITEM.fullmatch(item)
        if match is None:
            raise ValueError(f"bad bucket list {text!r}: {item!r} is not N or N-M")
        first = int(match.group(1))
        last = first if match.group(2) is None else int(match.group(2))
        if first > last:
            raise ValueError(f"bad bucket range {item!r}: {first} is greater than {last}")
        if last >= bucket_count:
            raise ValueError(f"bucket {last} out of range 0-{bucket_count - 1}")
        chosen.update(range(first, last + 1))
    return tuple(sorted(chosen))


def format_buckets(buckets: tuple[int, ...] | list[int]) -> str:
    """The shortest `parse_buckets` text for these buckets: `0-4,7,9`."""
    ordered = sorted(set(buckets))
    parts: list[str] = []
    start = 0
    while start < len(ordered):
        end = start
        while end + 1 < len(ordered) and ordered[end + 1] == ordered[end] + 1:
            end += 1
        first, last = ordered[start], ordered[end]
        parts.append(str(first) if first == last else f"{first}-{last}")
        start = end + 1
    return ",".join(parts)
