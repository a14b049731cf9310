"""A config change travels as a typed request; the config role writes its own log entry,
in the encoding its log already holds (roles/config/commands.py)."""

from __future__ import annotations

from typing import Any

from eraft_trio.group_calls.config_client import ConfigClient
from eraft_trio.protocol.config import ConfigChange, ConfigQuery, Join, Leave
from eraft_trio.protocol.errors import ErrorCode, ErrorReply
from eraft_trio.protocol.replies import ConfigChanged, ConfigView
from eraft_trio.roles.config.commands import SessionCommand, decode_command, encode_command
from eraft_trio.roles.config.server import ConfigRoleServer
from eraft_trio.transport.codec import decode, encode
from eraft_trio.transport.handshake import PeerInfo

PEER = PeerInfo(address="127.0.0.1:2", node=None, group=0, cluster="test", version=1)


class ProposingNode:
    """The part of RaftNode the config server uses: proposals answered as the state
    machine would, reads as `results` says."""

    def __init__(self, results: dict[Any, Any] | None = None) -> None:
        self.proposed: list[bytes] = []
        self.results = results or {}

    async def propose(self, entry: bytes) -> Any:
        self.proposed.append(entry)
        return {"ok": True, "num": 7}

    async def read(self, query: Any) -> Any:
        return self.results[tuple(query)]


def test_a_change_round_trips_through_the_codec_with_its_command_typed() -> None:
    change = ConfigChange(5, 2, Join({3: ("h:1", "[::1]:7000"), 1: ("g:2",)}, rejoin=True))
    assert decode(encode(change)) == change
    assert decode(encode(ConfigChange(5, 3, Leave((1, 2))))).command == Leave((1, 2))


async def test_the_role_logs_the_same_bytes_a_client_used_to_send() -> None:
    node = ProposingNode()
    command = Join({2: ("b:1",), 1: ("a:1",)}, rebalance=False)
    reply = await ConfigRoleServer(node).handle(PEER, ConfigChange(9, 4, command))  # type: ignore[arg-type]
    assert reply == ConfigChanged(7)
    # Byte for byte what clients encoded before the role did: stored logs stay readable.
    assert node.proposed == [encode_command(SessionCommand(9, 4, command))]
    assert decode_command(node.proposed[0]) == SessionCommand(9, 4, command)


async def test_refusals_and_configs_come_back_typed() -> None:
    config = {"num": 2, "buckets": [1, 0], "groups": {"1": ["a:1"]}}
    missing = {"ok": False, "code": "no_such_config", "message": "no config 9: the latest is 2"}
    node = ProposingNode({("query", 2): config, ("next", 2): missing})
    server = ConfigRoleServer(node)  # type: ignore[arg-type]
    view = await server.handle(PEER, ConfigQuery(2))
    assert view == ConfigView(2, [1, 0], {"1": ["a:1"]}) and view.to_json() == config
    assert await server.handle(PEER, ConfigQuery(2, after=True)) == ErrorReply(
        ErrorCode.NO_SUCH_CONFIG, "no config 9: the latest is 2"
    )


async def test_the_config_client_sends_the_command_itself() -> None:
    sent: list[Any] = []

    class Caller:
        async def call(self, body: Any, deadline: Any) -> Any:
            sent.append(body)
            return ConfigChanged(3)

    client = ConfigClient(None, ("a:1",), timeout=1.0)  # type: ignore[arg-type]
    client.group = Caller()  # type: ignore[assignment]
    assert await client.leave((4,)) == 3
    assert sent == [ConfigChange(client.client_id, 1, Leave((4,)))]
