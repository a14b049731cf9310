"""The bucket-to-group map: a grid when it fits, group ranges when it does not."""

from __future__ import annotations

from eraft_trio.tui.bucket_grid import bucket_map


def _config(owners: list[int]) -> dict[str, object]:
    return {"num": 1, "buckets": owners, "groups": {}}


def test_ten_buckets_are_one_row_under_their_numbers() -> None:
    lines = bucket_map(_config([1] * 5 + [2] * 5), 80, 3).plain.splitlines()
    assert lines == ["   0 1 2 3 4 5 6 7 8 9", "0  1 1 1 1 1 2 2 2 2 2"]


def test_rows_start_at_round_numbers_and_unassigned_is_a_dot() -> None:
    owners = [0] * 3 + [1] * 37  # 40 buckets: 30 per row at width 80 (cells of 2)
    lines = bucket_map(_config(owners), 80, 3).plain.splitlines()
    assert [line.split()[0] for line in lines[1:]] == ["0", "30"]
    assert lines[1].split()[1:5] == ["·", "·", "·", "1"]
    assert all(len(line) <= 80 for line in lines)


def test_wide_gids_widen_the_cells() -> None:
    lines = bucket_map(_config([100, 7]), 80, 3).plain.splitlines()
    assert lines[1].split() == ["0", "100", "7"]


def test_too_many_rows_become_group_ranges() -> None:
    owners = [1] * 512 + [2] * 511 + [0]
    text = bucket_map(_config(owners), 80, 3, migrating={3, 4, 5}).plain
    assert text.splitlines() == [
        "g1 (512): 0-511",
        "g2 (511): 512-1022",
        "unassigned (1): 1023",
        "moving: 3-5",
    ]


def test_a_taller_terminal_keeps_the_grid() -> None:
    owners = [1, 2] * 100  # 200 buckets: 7 rows of 30 at width 80
    assert bucket_map(_config(owners), 80, 3).plain.startswith("g1 (100)")
    assert len(bucket_map(_config(owners), 80, 10).plain.splitlines()) == 1 + 7


def test_no_buckets() -> None:
    assert bucket_map(_config([]), 80, 3).plain == "no buckets"
