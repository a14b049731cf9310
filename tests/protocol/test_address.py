"""One address parser for every address: IPv4, names, and IPv6 in brackets."""

from __future__ import annotations

import pytest

from eraft_trio.protocol.address import Address, format_address, host_of, parse_address
from eraft_trio.roles.config.transitions import is_host_port
from eraft_trio.runtime.metrics import listen_address
from eraft_trio.transport.faults import _patterns


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("127.0.0.1:7000", Address("127.0.0.1", 7000)),
        ("node-1.example:1", Address("node-1.example", 1)),
        ("[::1]:7000", Address("::1", 7000)),
        ("[fe80::1%eth0]:65535", Address("fe80::1%eth0", 65535)),
    ],
)
def test_an_address_parses_and_prints_back(text: str, address: Address) -> None:
    assert parse_address(text) == address
    assert format_address(address) == str(address) == text


@pytest.mark.parametrize(
    "text",
    ["", "7000", ":7000", "[]:7000", "[::1:7000", "h:", "h:0", "h:65536", "h:-1", "h:7e3", "h:٣"],
)
def test_what_is_not_an_address_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not host:port"):
        parse_address(text)
    assert not is_host_port(text)


def test_a_listen_address_may_leave_the_port_to_the_system() -> None:
    assert listen_address("[::]:0") == Address("::", 0)
    with pytest.raises(ValueError):
        parse_address("[::]:0")


def test_ipv6_hosts_are_hosts_everywhere_an_address_is_taken_apart() -> None:
    """The bracketed text is not a host: a socket, a fault rule or the status view given
    "[::1]" would not find the node."""
    assert host_of("[::1]:7000") == "::1"
    assert _patterns("[::1]:7000") == ("[::1]:7000", "::1", "*")
    assert is_host_port("[::1]:7000")
