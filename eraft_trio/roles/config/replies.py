"""The config role's answers: an accepted command's new config number, or a coded refusal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Refusal codes. They are part of what clients and the CLI see, so only ever add codes.
BAD_COMMAND = "bad_command"  # the proposal's bytes do not decode to a command
BAD_REQUEST = "bad_request"  # a command that names nothing, or a gid twice
BAD_GID = "bad_gid"  # a gid outside 1 .. 2**63-1
BAD_BUCKET = "bad_bucket"  # a bucket outside 0 .. buckets-1
BAD_ADDRESS = "bad_address"  # a group without addresses, or an address not host:port
GID_EXISTS = "gid_exists"  # join of a gid already in the config
GID_USED = "gid_used"  # join of a gid an earlier config used: gids never alias (transitions.py)
ADDRESS_IN_USE = "address_in_use"  # join of an address another group already has
UNKNOWN_GID = "unknown_gid"  # leave of, or move to, a gid not in the config
LAST_GROUP = "last_group"  # leave of every group while buckets are assigned
STALE_SEQ = "stale_seq"  # a session seq older than that client's last one
NO_SUCH_CONFIG = "no_such_config"  # a query past the latest config
BAD_QUERY = "bad_query"  # a read the state machine does not understand


@dataclass(frozen=True, slots=True)
class ConfigError:
    """A deterministic refusal: the command changed nothing (but used its session seq)."""

    code: str
    message: str

    def to_reply(self) -> dict[str, Any]:
        return {"ok": False, "code": self.code, "message": self.message}


def accepted_reply(num: int) -> dict[str, Any]:
    """The reply to a command that created config `num`."""
    return {"ok": True, "num": num}
