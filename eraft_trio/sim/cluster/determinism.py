"""One schedule per seed: trio's own scheduler made reproducible for a simulated run.

trio reverses each batch of runnable tasks at random (from a module-level Random it
never seeds), and the order in which tasks become runnable can follow set iteration,
which follows memory addresses. Under Hypothesis trio switches to a reproducible
mode (trio/_core/_run.py, `_hypothesis_plugin_setup`): each batch is sorted by task
creation order, then shuffled by that Random. A simulation does the same, seeding it.
The process's own `random` is seeded too: the real client draws its session ids and
its backoff jitter from it.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import trio


@contextmanager
def deterministic_scheduling(seed: int) -> Iterator[None]:
    run_module: Any = trio._core._run
    saved = run_module._ALLOW_DETERMINISTIC_SCHEDULING, run_module._r.getstate()
    global_state = random.getstate()
    run_module._ALLOW_DETERMINISTIC_SCHEDULING = True
    run_module._r.seed(seed)
    random.seed(seed)
    try:
        yield
    finally:
        run_module._ALLOW_DETERMINISTIC_SCHEDULING, state = saved
        run_module._r.setstate(state)
        random.setstate(global_state)
