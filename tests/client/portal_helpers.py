"""Helpers of the portal and stream bridge tests: a portal whose Client is never used for
the network (its config server refuses), and waits for a condition with a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from eraft_trio.client.portal import ClientPortal

# Nothing listens there: a Client call retries until its timeout; tests submit their own.
NOWHERE = ("127.0.0.1:9",)


def open_portal(**options: Any) -> ClientPortal:
    portal = ClientPortal(NOWHERE, {"timeout": 30.0, **options}, name="test-portal")
    portal.ready.result(timeout=30)
    return portal


def wait_until(condition: Callable[[], bool], what: str, deadline_s: float = 30.0) -> None:
    """Poll `condition` (state of another thread) until it holds; fail after the deadline."""
    end = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"not within {deadline_s:g}s: {what}")
        time.sleep(0.005)
