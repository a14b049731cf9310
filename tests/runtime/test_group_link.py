"""GroupLink: every connection to the group's peers leaves from this node's own host."""

from __future__ import annotations

import pytest

from eraft_trio.runtime.group_link import GroupLink


@pytest.mark.parametrize(
    ("peers", "host"),
    [
        (("127.0.0.1:7000", "127.0.0.2:7000"), "127.0.0.1"),
        (("[::1]:7000", "[::1]:7001"), "::1"),
    ],
)
async def test_calls_to_peers_bind_the_bare_host_of_our_address(
    peers: tuple[str, ...], host: str
) -> None:
    """Regression (issue 13): "[::1]:7000" gave the RPC clients the source host "[::1]",
    which does not resolve, so snapshot transfers failed between IPv6 peers."""
    link = GroupLink(peers, 0, cluster="c", group=1)

    assert link.clients[1].dialing.local_host == host
    assert link.senders[1].local_host == host


async def test_the_link_follows_the_members_it_is_given() -> None:
    import trio

    peers = ("127.0.0.1:7000", "127.0.0.1:7001", "127.0.0.1:7002")
    link = GroupLink(peers, 0, cluster="c", group=1)
    async with trio.open_nursery() as nursery:
        await nursery.start(link.run)
        old_sender = link.senders[2]
        link.set_peers({1: "127.0.0.1:7001", 3: "127.0.0.1:7003", 0: "127.0.0.1:7000"})
        assert set(link.senders) == set(link.clients) == {1, 3}  # never itself
        assert link.addresses == {1: "127.0.0.1:7001", 3: "127.0.0.1:7003"}
        assert not link.send(2, None)  # type: ignore[arg-type]
        assert not old_sender.send(None)  # type: ignore[arg-type]  # closed
        sender_to_1 = link.senders[1]
        link.set_peers({1: "127.0.0.1:7101", 3: "127.0.0.1:7003"})  # node 1 moved
        assert link.clients[1].fault_dst == "127.0.0.1:7101"
        assert link.senders[1] is not sender_to_1 and not sender_to_1.send(None)  # type: ignore[arg-type]
        nursery.cancel_scope.cancel()
