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
