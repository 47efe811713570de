"""What the two test tiers' host-side drivers share (tests/system/machine.py, tests/vm/vm.py)."""

from __future__ import annotations

import subprocess
import time
from typing import Any, Callable, TypeVar

T = TypeVar("T")


class CommandFailed(AssertionError):
    """A command exited non-zero where the test needed it to succeed; carries everything it printed."""

    def __init__(self, cmd: list[str], proc: subprocess.CompletedProcess):
        self.proc = proc
        super().__init__(
            f"command failed with exit status {proc.returncode}: {cmd}\n"
            f"--- stdout ---\n{proc.stdout}--- stderr ---\n{proc.stderr}"
        )


def poll(fn: Callable[[], T], timeout: float, what: str, interval: float = 0.1) -> T:
    """Call fn until it returns something truthy and return that; fail after timeout seconds with the last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = fn()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}; last seen: {last!r}")
        time.sleep(interval)


def explain(proc: subprocess.CompletedProcess) -> str:
    """A command's result for an assertion message."""
    cmd = getattr(proc, "cmd", None) or " ".join(map(str, proc.args))
    return f"{cmd}\n  exit status {proc.returncode}\n  --- stdout ---\n{proc.stdout}  --- stderr ---\n{proc.stderr}"


def show_properties(text: str) -> dict[str, str]:
    """`systemctl show` output (Key=Value lines) as a dict."""
    props: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            props[key] = value
    return props
