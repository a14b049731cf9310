"""`eraft ctl` as a user runs it: a child process, its exit code, stdout and stderr."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import trio

# The console script a user would type, from this interpreter's environment.
ERAFT = Path(sys.executable).with_name("eraft")
# Only a guard against a hung child; a ctl command returns within its own --timeout.
PROCESS_GUARD_SECONDS = 120.0


@dataclass(frozen=True)
class CtlResult:
    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        return f"eraft {' '.join(self.args)} -> {self.code}\nstdout: {self.stdout!r}\nstderr: {self.stderr!r}"


async def eraft(
    args: Sequence[str], env: Mapping[str, str] | None = None, stdin: bytes | None = None
) -> CtlResult:
    """Run `eraft ARGS` to completion, `stdin` on its standard input (None: none). The inherited ERAFT_* variables are dropped so that
    nothing but `env` and the arguments chooses the cluster (never the fixed local ports)."""
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("ERAFT_")}
    child_env.update(env or {})
    command = [str(ERAFT)] if ERAFT.exists() else [sys.executable, "-m", "eraft_trio"]
    with trio.fail_after(PROCESS_GUARD_SECONDS):
        done = await trio.run_process(
            [*command, *args],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            env=child_env,
            stdin=subprocess.DEVNULL if stdin is None else stdin,
            start_new_session=True,  # its own process group, like every process we start
        )
    return CtlResult(tuple(args), done.returncode, done.stdout.decode(), done.stderr.decode())


async def ctl(
    servers: Sequence[str],
    *args: str,
    timeout: float = 10.0,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
) -> CtlResult:
    """`eraft ctl -s SERVERS --timeout T ARGS...`."""
    command = ["ctl", "-s", ",".join(servers), "--timeout", str(timeout), *args]
    return await eraft(command, env, stdin)
