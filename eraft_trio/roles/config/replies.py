"""The config role's answers: an accepted command's new config number, or a coded refusal.

The state machine's results are plain dicts, because each is stored with its client's
session (tables.py): `{"ok": True, "num": N}` or `{"ok": False, "code", "message"}`. The
server sends them as protocol replies (`to_*` below).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eraft_trio.protocol.errors import ErrorCode, ErrorReply
from eraft_trio.protocol.replies import ConfigChanged, ConfigView

# The codes are the protocol's one set (protocol/errors.py); these are the ones results hold.
BAD_COMMAND = ErrorCode.BAD_COMMAND
BAD_REQUEST = ErrorCode.BAD_REQUEST
BAD_GID = ErrorCode.BAD_GID
BAD_BUCKET = ErrorCode.BAD_BUCKET
BAD_ADDRESS = ErrorCode.BAD_ADDRESS
GID_EXISTS = ErrorCode.GID_EXISTS
GID_USED = ErrorCode.GID_USED
ADDRESS_IN_USE = ErrorCode.ADDRESS_IN_USE
UNKNOWN_GID = ErrorCode.UNKNOWN_GID
LAST_GROUP = ErrorCode.LAST_GROUP
STALE_SEQ = ErrorCode.STALE_SEQ
NO_SUCH_CONFIG = ErrorCode.NO_SUCH_CONFIG
BAD_QUERY = ErrorCode.BAD_QUERY


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


# --- results as sent -------------------------------------------------------------------------


def _error_of(result: dict[str, Any]) -> ErrorReply:
    return ErrorReply(ErrorCode(result["code"]), str(result.get("message", "")))


def to_config_changed(result: dict[str, Any]) -> ConfigChanged | ErrorReply:
    return ConfigChanged(int(result["num"])) if result.get("ok") else _error_of(result)


def to_config_view(result: dict[str, Any]) -> ConfigView | ErrorReply:
    if "code" in result:
        return _error_of(result)
    return ConfigView(result["num"], result["buckets"], result["groups"])
