"""Lease inputs the client refuses before sending anything: bad TTLs and lease ids."""

from __future__ import annotations

import math
from typing import Any, cast

import pytest
import trio

from eraft_trio.client.kv_client import Client, check_lease_id
from eraft_trio.client.leases import lease_bucket, ttl_ms_of
from eraft_trio.errors import BadRequest


@pytest.mark.parametrize("ttl", [0, 0.5, -1, 7 * 24 * 3600 + 1, math.inf, math.nan, True, "5"])
def test_a_ttl_outside_one_second_to_a_week_is_refused(ttl: object) -> None:
    with pytest.raises(BadRequest) as refused:
        ttl_ms_of(ttl)  # type: ignore[arg-type]
    assert refused.value.code == "bad_request"


def test_ttls_become_whole_milliseconds() -> None:
    assert ttl_ms_of(1) == 1000
    assert ttl_ms_of(2.5) == 2500
    assert ttl_ms_of(7 * 24 * 3600) == 7 * 24 * 3600 * 1000


@pytest.mark.parametrize("lease", [0, -1, 2**64, True, "17", 1.5, None])
def test_a_lease_id_must_be_a_positive_64_bit_integer(lease: object) -> None:
    with pytest.raises(BadRequest) as refused:
        check_lease_id(lease)
    assert refused.value.code == "bad_request"


def test_a_lease_id_names_its_bucket_and_one_past_the_buckets_is_not_found() -> None:
    assert lease_bucket(3 << 40 | 9, 10) == 3
    with pytest.raises(BadRequest) as refused:
        lease_bucket(10 << 40 | 1, 10)
    assert refused.value.code == "lease_not_found"


def test_a_leased_put_of_the_empty_key_is_refused_before_sending() -> None:
    client = Client(cast(Any, None), ("127.0.0.1:1",))

    async def main() -> None:
        with pytest.raises(BadRequest) as refused:
            await client.put(b"", b"v", lease=1 << 40 | 1)
        assert refused.value.code == "bad_request"

    trio.run(main)
