"""The errors the client API raises: every failure is an EraftError with a clear message."""

from __future__ import annotations


class EraftError(Exception):
    """Base of every error the eraft client raises."""


class OperationTimeout(EraftError):
    """The cluster did not answer within the operation timeout: the outcome is unknown.

    A write that timed out may still be applied (once) later, or never.
    """


class BadRequest(EraftError):
    """The cluster refused the request as invalid; `code` says why (e.g. "bad_bucket")."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class ServerError(EraftError):
    """A server failed while handling the request (e.g. its disk is full)."""


class SessionExpired(EraftError):
    """A write was refused because its client session expired on the server.

    Sessions are forgotten once unused for the shard group's `session_ttl_s`. A retried
    write whose session is gone cannot be told from a new one, so it is refused instead
    of possibly applied twice: an earlier try of it may or may not have been applied.
    The client starts a new session for its next write.
    """


class LeaseLost(EraftError):
    """A lock's lease was lost while its block ran (client.lock): the block was cancelled,
    and the lock may be someone else's by now (docs/reference.md, "Recipes")."""


class ClientClosed(EraftError, RuntimeError):
    """A call on a SyncClient or AsyncioClient that is closed, not yet connected, or was
    closed while the call ran (the call was cancelled: a write's outcome is unknown)."""


def single_exception(group: BaseExceptionGroup) -> BaseException:
    """The one exception inside nested groups, or the group itself when there are several."""
    leaves: list[BaseException] = []
    stack: list[BaseException] = [group]
    while stack:
        exc = stack.pop()
        if isinstance(exc, BaseExceptionGroup):
            stack.extend(exc.exceptions)
        else:
            leaves.append(exc)
    return leaves[0] if len(leaves) == 1 else group


class Compacted(EraftError):
    """A watch asked for changes older than its bucket's history keeps (it is bounded:
    docs/reference.md, Watches). `bucket` is the bucket, `oldest` the oldest revision it
    still holds: read the keys again, then watch from a newer revision."""

    code = "compacted"

    def __init__(self, bucket: int, oldest: int) -> None:
        super().__init__(
            f"compacted: bucket {bucket} keeps changes from revision {oldest} on only; "
            "read the current values and watch again from there"
        )
        self.bucket = bucket
        self.oldest = oldest
