"""Cut and heal links between node addresses with one nftables set of (source, destination) pairs.

One rule drops every packet whose (saddr, daddr) pair is in the set, on the output
hook, which loopback traffic inside a namespace always passes. A cut link stalls
TCP (nothing resets), which is what a real partition looks like. Every change
rewrites the set in one `nft -f` transaction, so the kernel never sees half a
partition. Only run this inside the run's own namespace: the table is global there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable, Iterable

TABLE = "eraft_chaos"

Link = tuple[str, str]  # (source host, destination host), one direction


class LinkCutError(RuntimeError):
    """nft refused a change (not root, no nf_tables, or a bad rule)."""


def nft_available() -> bool:
    return shutil.which("nft") is not None


def _nft(script: str) -> None:
    result = subprocess.run(
        ["nft", "-f", "-"], input=script, capture_output=True, text=True, timeout=30
    )
    if result.returncode != 0:
        raise LinkCutError(f"nft failed: {result.stderr.strip()}\n--- script:\n{script}")


class LinkCuts:
    """The one-way links currently cut; `both_ways` helpers cut TCP for real.

    A TCP connection needs both directions, so a partition cuts both; one-way cuts
    are still possible (`cut([(a, b)])`) to model asymmetric failures. Cuts are
    counted, so two overlapping faults that cut the same link each heal only their
    own share of it: the link comes back when the last of them heals.
    """

    def __init__(self) -> None:
        self._counts: Counter[Link] = Counter()
        self._installed = False

    def install(self) -> None:
        _nft(
            f"table ip {TABLE} {{\n"
            "  set cuts { type ipv4_addr . ipv4_addr; }\n"
            "  chain output {\n"
            "    type filter hook output priority 0; policy accept;\n"
            "    ip saddr . ip daddr @cuts drop\n"
            "  }\n"
            "}\n"
        )
        self._installed = True

    @property
    def cut_links(self) -> frozenset[Link]:
        return frozenset(link for link, count in self._counts.items() if count > 0)

    def cut(self, links: Iterable[Link]) -> None:
        counts = self._counts.copy()
        counts.update(set(links))
        self._apply(counts)

    def heal(self, links: Iterable[Link]) -> None:
        counts = self._counts.copy()
        counts.subtract(set(links))
        self._apply(+counts)  # unary plus drops counts at or below zero

    def heal_all(self) -> None:
        if self._installed:
            self._apply(Counter())

    def uninstall(self) -> None:
        """Remove the table; safe to call more than once."""
        if self._installed:
            subprocess.run(["nft", "delete", "table", "ip", TABLE], capture_output=True, timeout=30)
            self._installed = False
            self._counts.clear()

    def _apply(self, counts: Counter[Link]) -> None:
        if not self._installed:
            raise LinkCutError("link cuts are not installed")
        wanted = sorted(link for link, count in counts.items() if count > 0)
        lines = [f"flush set ip {TABLE} cuts"]
        if wanted:
            elements = ", ".join(f"{src} . {dst}" for src, dst in wanted)
            lines.append(f"add element ip {TABLE} cuts {{ {elements} }}")
        _nft("\n".join(lines) + "\n")
        self._counts = counts


def both_ways(pairs: Iterable[tuple[str, str]]) -> set[Link]:
    links: set[Link] = set()
    for a, b in pairs:
        links.add((a, b))
        links.add((b, a))
    return links


def between(side_a: Iterable[str], side_b: Iterable[str]) -> set[Link]:
    """Every link, both ways, between a host of `side_a` and a host of `side_b`."""
    b_hosts = list(side_b)
    return both_ways((a, b) for a in side_a for b in b_hosts if a != b)


def ensure_nft(say: Callable[[str], None]) -> bool:
    """Install nftables with apt-get when `nft` is missing (root only); whether nft is there now."""
    if nft_available():
        return True
    if shutil.which("apt-get") is None:
        return False
    say("nft is missing: installing nftables with apt-get")
    install = ["apt-get", "install", "-y", "-qq", "nftables"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for step in ([install], [["apt-get", "update", "-qq"], install]):
        for command in step:
            subprocess.run(command, capture_output=True, env=env, timeout=600)
        if nft_available():
            return True
    return False
