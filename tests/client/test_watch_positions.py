"""The client side of a watch without a network: what `positions` says after each event
(a resume point that neither repeats nor skips a change), and pages that only move a
position on never wait behind a caller that has not started reading."""

from __future__ import annotations

import pytest
import trio

from eraft_trio.client.watch import QUEUED_PAGES, Watch, WatchEvent, _Page, watched_buckets
from eraft_trio.protocol.keys import bucket_of


def event(revision: int, bucket: int = 0, key: bytes = b"k") -> WatchEvent:
    return WatchEvent("put", key, b"v", 1, revision, bucket)


async def test_positions_after_each_event_resume_without_repeating_or_skipping() -> None:
    send, receive = trio.open_memory_channel[_Page | BaseException](QUEUED_PAGES)
    watch = Watch(receive)
    watch.start({0: 1})
    # Revision 7 holds two changes (one transaction): a resume between them repeats 7.
    page = _Page(0, [event(5), event(7, key=b"a"), event(7, key=b"b")], next=12)
    await watch.deliver(send, page)
    after = []
    for _ in range(3):
        await watch.__anext__()
        after.append(watch.positions[0])
    assert after == [6, 7, 12]  # the last takes the page's next (non-matching skipped)


async def test_position_only_pages_do_not_block_a_caller_that_is_not_reading() -> None:
    # Regression: a prefix watch over more buckets than QUEUED_PAGES could not start,
    # because each bucket's first (empty) page waited in the full queue.
    send, receive = trio.open_memory_channel[_Page | BaseException](QUEUED_PAGES)
    watch = Watch(receive)
    buckets = QUEUED_PAGES * 3
    watch.start(dict.fromkeys(range(buckets), 0))
    with trio.fail_after(1):
        for bucket in range(buckets):
            await watch.deliver(send, _Page(bucket, [], next=40 + bucket))
    assert watch.positions == {b: 40 + b for b in range(buckets)}


async def test_a_position_only_page_behind_events_waits_its_turn() -> None:
    send, receive = trio.open_memory_channel[_Page | BaseException](QUEUED_PAGES)
    watch = Watch(receive)
    watch.start({0: 1})
    await watch.deliver(send, _Page(0, [event(3)], next=4))
    await watch.deliver(send, _Page(0, [], next=9))
    assert watch.positions == {0: 1}  # nothing consumed yet
    await watch.__anext__()
    assert watch.positions == {0: 4}
    await watch.deliver(send, _Page(0, [event(10)], next=11))
    assert (await watch.__anext__()).mod_revision == 10
    assert watch.positions == {0: 11}


def test_a_prefix_with_a_whole_hash_tag_polls_its_one_bucket() -> None:
    assert watched_buckets(b"app/", True, 10) == list(range(10))
    assert watched_buckets(b"user{42}:", True, 10) == [bucket_of(b"42", 10)]
    assert watched_buckets(b"user{42}", True, 10) == [bucket_of(b"x{42}y", 10)]
    for open_tag in (b"user{42", b"user{}", b"{"):  # keys under it may have other tags
        assert watched_buckets(open_tag, True, 10) == list(range(10))
    assert watched_buckets(b"app/k", False, 10) == [bucket_of(b"app/k", 10)]


async def test_an_error_that_ended_the_watch_is_raised_again_not_waited_on() -> None:
    from eraft_trio.errors import Compacted

    send, receive = trio.open_memory_channel[_Page | BaseException](QUEUED_PAGES)
    watch = Watch(receive)
    await send.send(Compacted(3, 17))
    for _ in range(2):
        with trio.fail_after(1), pytest.raises(Compacted):
            await watch.__anext__()
