"""The Wing-Gong/Lowe linearizability search for one register, memoised as porcupine does.

The history of one key becomes a time-ordered list of call and return events. The
search walks it, trying to linearize each pending call (apply it to the register
model and lift its call and return out of the list); reaching a return event whose
call has not been linearized means the choices so far were wrong, so it backtracks.
A cache of (set of linearized ops, register state) pairs already explored prunes
repeated work (Lowe, "Testing for linearizability", 2017). The set is an int
bitset: cheap to hash and to copy.

The event list is a doubly linked list held in two int arrays, so lifting an op out
and putting it back are O(1) ("dancing links").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

GET = 0
PUT = 1
DELETE = 2
# Compare-and-set (a CAS put or delete, a one-key txn): the register held `expected`,
# and it now holds `value` (None: deleted).
CAS = 3
# A compare that failed: the register did not hold `expected`; it held `value` (what
# the failed op answered), and nothing changed.
CAS_FAILED = 4
# A CAS whose answer never came: if the register holds `expected` when it takes effect
# it becomes `value`, else nothing changes (and taking effect last is never taking it).
CAS_MAYBE = 5

SearchOutcome = Literal["ok", "violation", "unknown"]


class RegisterOp(NamedTuple):
    """An op as the search sees it: `ret` may be inf for a write that may land at any time."""

    kind: int  # GET, PUT, DELETE, CAS, CAS_FAILED or CAS_MAYBE
    value: bytes | None  # written by a put or CAS, observed by a get or failed CAS; None: missing
    call: float
    ret: float
    expected: bytes | None = None  # what a CAS kind compares the register with


@dataclass(frozen=True, slots=True)
class SearchResult:
    """The outcome of a search and, for a violation, where it got stuck.

    `linearized` is the longest partial linearization found (op indices, in order),
    `state` the register after it, `unplaced` the ops that were pending at that point
    (none of them could be linearized next) and `blocking` the one whose return
    event forced the search back.
    """

    outcome: SearchOutcome
    steps: int
    linearized: tuple[int, ...] = ()
    state: bytes | None = None
    unplaced: tuple[int, ...] = ()
    blocking: int | None = None


# A persistent stack of linearized op indices, so the search can keep its deepest
# partial linearization in O(1) instead of copying a list each time it goes deeper.
_Path = tuple[int, "_Path"] | None


def search_register(ops: Sequence[RegisterOp], step_budget: int) -> SearchResult:
    """Decide whether `ops` on a register starting out missing (None) are linearizable."""
    count = len(ops)
    if count == 0:
        return SearchResult("ok", 0)

    # Events: 2*i is the call of op i, 2*i+1 its return. On equal times calls sort
    # first, so ops that touch at an instant count as concurrent (the lenient reading).
    def event_time(event: int) -> float:
        op = ops[event >> 1]
        return op.ret if event & 1 else op.call

    events = sorted(range(2 * count), key=lambda event: (event_time(event), event & 1))
    head, tail = 2 * count, 2 * count + 1
    nxt = [0] * (2 * count + 2)
    prv = [0] * (2 * count + 2)
    order = [head, *events, tail]
    position = [0] * (2 * count)
    for index in range(1, len(order) - 1):
        event = order[index]
        position[event] = index
        prv[event] = order[index - 1]
        nxt[event] = order[index + 1]
    nxt[head] = order[1]
    prv[tail] = order[-2]

    kinds = [op.kind for op in ops]
    values = [op.value for op in ops]
    expected = [op.expected for op in ops]
    state: bytes | None = None
    linearized = 0
    cache: set[tuple[int, bytes | None]] = set()
    calls: list[tuple[int, bytes | None]] = []  # (call event, state before it)
    path: _Path = None
    best_depth = -1
    best_path: _Path = None
    best_state: bytes | None = None
    best_blocking = -1
    steps = 0
    event = nxt[head]
    while nxt[head] != tail:
        steps += 1
        if steps > step_budget:
            return SearchResult("unknown", steps - 1)
        if not event & 1:
            op = event >> 1
            kind = kinds[op]
            if kind == GET:
                legal = state == values[op]
                new_state = state
            elif kind <= DELETE:
                legal = True
                new_state = values[op] if kind == PUT else None
            elif kind == CAS:
                legal = state == expected[op]
                new_state = values[op]
            elif kind == CAS_FAILED:
                legal = state != expected[op] and state == values[op]
                new_state = state
            else:  # CAS_MAYBE
                legal = True
                new_state = values[op] if state == expected[op] else state
            if legal:
                new_linearized = linearized | (1 << op)
                memo_key = (new_linearized, new_state)
                if memo_key not in cache:
                    cache.add(memo_key)
                    calls.append((event, state))
                    path = (op, path)
                    state = new_state
                    linearized = new_linearized
                    _lift(nxt, prv, event)
                    event = nxt[head]
                    continue
            event = nxt[event]
            continue
        # A return event whose call is still pending: this branch is dead, backtrack.
        if len(calls) > best_depth:
            best_depth, best_path, best_state, best_blocking = len(calls), path, state, event >> 1
        if not calls:
            return _violation(steps, best_path, best_state, best_blocking, position, count)
        event, state = calls.pop()
        linearized &= ~(1 << (event >> 1))
        assert path is not None
        path = path[1]
        _unlift(nxt, prv, event)
        event = nxt[event]
    return SearchResult("ok", steps)


def _lift(nxt: list[int], prv: list[int], call: int) -> None:
    """Take a call event and its return event (always `call + 1`) out of the list."""
    nxt[prv[call]] = nxt[call]
    prv[nxt[call]] = prv[call]
    ret = call + 1
    nxt[prv[ret]] = nxt[ret]
    prv[nxt[ret]] = prv[ret]


def _unlift(nxt: list[int], prv: list[int], call: int) -> None:
    """Undo `_lift`, in reverse order, so the neighbours' links are restored exactly."""
    ret = call + 1
    prv[nxt[ret]] = ret
    nxt[prv[ret]] = ret
    prv[nxt[call]] = call
    nxt[prv[call]] = call


def _violation(
    steps: int,
    best_path: _Path,
    best_state: bytes | None,
    blocking: int,
    position: list[int],
    count: int,
) -> SearchResult:
    linearized: list[int] = []
    node = best_path
    while node is not None:
        linearized.append(node[0])
        node = node[1]
    linearized.reverse()
    done = set(linearized)
    # The ops still pending when the blocking op had to return: their calls came first.
    deadline = position[2 * blocking + 1]
    unplaced = tuple(op for op in range(count) if op not in done and position[2 * op] < deadline)
    return SearchResult("violation", steps, tuple(linearized), best_state, unplaced, blocking)
