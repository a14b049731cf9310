"""Hostile connections against one node, as a child process: `python hostile_load.py HOST PORT
CLUSTER COUNT REPORT_FILE`.

COUNT connections, an equal share of each kind in ATTACKS, each reconnecting (after a
pause of about a second) whenever the node closes it, until this process is killed. Once
a second, REPORT_FILE gets a JSON line of counters, so a test can tell the load is on.
None of them knows the cluster secret.
"""

from __future__ import annotations

import json
import os
import random
import struct
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import trio

from eraft_trio.protocol.envelope import PROTOCOL_VERSION, Hello
from eraft_trio.transport.codec import encode
from eraft_trio.transport.framing import encode_frame

RECONNECT_PAUSE = (0.5, 1.5)  # seconds: an attacker that keeps coming back, not a SYN flood


async def oversized_header(stream: trio.SocketStream, cluster: str) -> None:
    """The attack of issue 17: a header announcing 60 MiB, then zeros as fast as we can."""
    await stream.send_all(struct.pack(">I", 60 << 20))
    zeros = bytes(64 << 10)
    while True:
        await stream.send_all(zeros)


async def slow_body(stream: trio.SocketStream, cluster: str) -> None:
    """A frame a little under the handshake limit, one byte a second."""
    await stream.send_all(struct.pack(">I", 4000))
    while True:
        await stream.send_all(b"\x00")
        await trio.sleep(1.0)


async def unfinished_handshake(stream: trio.SocketStream, cluster: str) -> None:
    """A valid Hello, then silence where the proof of the secret should come."""
    hello = Hello(version=PROTOCOL_VERSION, cluster=cluster, node=None, group=0)
    await stream.send_all(encode_frame(encode(hello)))
    while await stream.receive_some(4096):
        pass


async def garbage(stream: trio.SocketStream, cluster: str) -> None:
    """Random bytes, 4 KiB every 100 ms."""
    while True:
        await stream.send_all(os.urandom(4096))
        await trio.sleep(0.1)


async def silence(stream: trio.SocketStream, cluster: str) -> None:
    while await stream.receive_some(4096):
        pass


ATTACKS: dict[str, Callable[[trio.SocketStream, str], Awaitable[None]]] = {
    "oversized_header": oversized_header,
    "slow_body": slow_body,
    "unfinished_handshake": unfinished_handshake,
    "garbage": garbage,
    "silence": silence,
}


class Counters:
    def __init__(self) -> None:
        self.connects = 0
        self.connect_errors = 0
        self.open = 0
        self.closed_by_node = 0


async def attacker(
    kind: str, host: str, port: int, cluster: str, counters: Counters, rng: random.Random
) -> None:
    attack = ATTACKS[kind]
    while True:
        try:
            stream = await trio.open_tcp_stream(host, port)
        except OSError:
            counters.connect_errors += 1
        else:
            counters.connects += 1
            counters.open += 1
            try:
                async with stream:
                    await attack(stream, cluster)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass
            finally:
                counters.open -= 1
                counters.closed_by_node += 1
        await trio.sleep(rng.uniform(*RECONNECT_PAUSE))


async def report(counters: Counters, path: Path) -> None:
    with path.open("a") as out:
        while True:
            out.write(json.dumps(vars(counters)) + "\n")
            out.flush()
            await trio.sleep(1.0)


async def main(host: str, port: int, cluster: str, count: int, report_path: Path) -> None:
    counters = Counters()
    kinds = sorted(ATTACKS)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(report, counters, report_path)
        for i in range(count):
            rng = random.Random(i)
            nursery.start_soon(attacker, kinds[i % len(kinds)], host, port, cluster, counters, rng)
            if i % 50 == 49:
                await trio.sleep(0.01)  # open them over a moment, as the backlog allows


if __name__ == "__main__":
    host, port, cluster, count, report_file = sys.argv[1:6]
    trio.run(main, host, int(port), cluster, int(count), Path(report_file))
