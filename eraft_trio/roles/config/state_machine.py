"""The config role's replicated state machine: apply join/leave/move exactly once, answer queries."""

from __future__ import annotations

from typing import Any

from eraft_trio.roles.config import replies, tables
from eraft_trio.roles.config.commands import CommandDecodeError, decode_command
from eraft_trio.roles.config.model import Config
from eraft_trio.roles.config.replies import ConfigError, accepted_reply
from eraft_trio.roles.config.transitions import next_config
from eraft_trio.storage.view import TableView


class ConfigStateMachine:
    """A `StateMachine` over the tables described in `tables`; holds no state of its own.

    `bucket_count` is only used to create config 0 for a cluster whose tables are
    still empty; once a chain is stored, its bucket count is the one that counts.

    Commands are the bytes of `commands.encode_command`. Replies are msgpack-friendly:
    `{"ok": True, "num": N}` for a command that created config N, or
    `{"ok": False, "code": ..., "message": ...}` for a refusal, which changes no config.

    Reads (`read(view, query)`):
      ("query", num)  config num (None or -1: the latest) as `Config.to_json()`
      ("next", num)   config num + 1 as `Config.to_json()` (shard groups step one at a time)
    or a refusal reply (code "no_such_config" past the latest, "bad_query" otherwise).
    """

    def __init__(self, buckets: int) -> None:
        if buckets <= 0:
            raise ValueError(f"bucket count must be positive, not {buckets}")
        self._initial_bucket_count = buckets

    # --- StateMachine ----------------------------------------------------------------

    def apply(self, view: TableView, index: int, command: bytes) -> Any:
        """Apply one committed proposal; `index` is unused (the runtime records it)."""
        tables.initialise(view, self._initial_bucket_count)
        try:
            proposal = decode_command(command)
        except CommandDecodeError as error:
            # No session can be trusted from bytes that do not decode: refuse, store nothing.
            return ConfigError(replies.BAD_COMMAND, str(error)).to_reply()

        session = tables.load_session(view, proposal.client_id)
        if session is not None and proposal.seq <= session.seq:
            if proposal.seq == session.seq:
                return session.reply  # a retry: the first outcome, not a second config
            return ConfigError(
                replies.STALE_SEQ,
                f"seq {proposal.seq} is older than client {proposal.client_id}'s last ({session.seq})",
            ).to_reply()

        outcome = next_config(
            self.latest(view), proposal.command, lambda gid: tables.gid_used(view, gid)
        )
        if isinstance(outcome, ConfigError):
            reply = outcome.to_reply()
        else:
            tables.store_config(view, outcome)
            reply = accepted_reply(outcome.num)
        # Refusals use up the seq too, so a retried bad command gets the same refusal.
        tables.store_session(view, proposal.client_id, tables.Session(proposal.seq, reply))
        return reply

    def read(self, view: TableView, query: Any) -> Any:
        if not (isinstance(query, list | tuple) and len(query) == 2):
            return _bad_query(query)
        kind, num = query
        if num is not None and (not isinstance(num, int) or isinstance(num, bool)):
            return _bad_query(query)
        if kind == "query":
            if num is None or num == -1:
                return self.latest(view).to_json()
            return self._config_reply(view, num, query)
        if kind == "next" and num is not None:
            return self._config_reply(view, num + 1, query)
        return _bad_query(query)

    # --- direct access for in-process callers (server, tests) ---------------------------

    def latest(self, view: TableView) -> Config:
        config = self.config(view, tables.latest_num(view))
        assert config is not None, "the latest config is always stored or implicit"
        return config

    def config(self, view: TableView, num: int) -> Config | None:
        """Config `num`, or None if there is no such config (yet)."""
        if not tables.is_initialised(view):
            return Config.initial(self._initial_bucket_count) if num == 0 else None
        return tables.load_config(view, num) if num >= 0 else None

    def _config_reply(self, view: TableView, num: int, query: Any) -> Any:
        if num < 0:
            return _bad_query(query)
        config = self.config(view, num)
        if config is None:
            latest = tables.latest_num(view)
            return ConfigError(
                replies.NO_SUCH_CONFIG, f"no config {num}: the latest is {latest}"
            ).to_reply()
        return config.to_json()


def _bad_query(query: Any) -> dict[str, Any]:
    return ConfigError(replies.BAD_QUERY, f"not a config query: {query!r}").to_reply()
