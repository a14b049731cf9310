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
