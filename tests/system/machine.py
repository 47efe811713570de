"""Drive a machine booted by testbed.sh from the host, the way a user would: commands, systemctl, journal, HTTP.

Everything goes through tests/system/testbed.sh, so the tests and the README demo use the same machinery.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, TypeVar

TESTBED = Path(__file__).resolve().with_name("testbed.sh")
HOST = "127.0.0.1"
PORT = 7080
BASE_URL = f"http://{HOST}:{PORT}"
NAME = "studio-test"  # the machine the suite boots
TEST_DROPIN = "/etc/studio/studio.conf.d/50-test.conf"  # the tests' configuration, written before first use

T = TypeVar("T")


class CommandFailed(AssertionError):
    """A command exited non-zero where the test needed it to succeed; carries everything it printed."""

    def __init__(self, cmd: list[str], proc: subprocess.CompletedProcess):
        self.proc = proc
        super().__init__(
            f"command failed with exit status {proc.returncode}: {cmd}\n"
            f"--- stdout ---\n{proc.stdout}--- stderr ---\n{proc.stderr}"
        )


def run_testbed(*args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `testbed.sh ARGS...` on the host and return what it printed."""
    proc = subprocess.run(
        [str(TESTBED), *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )
    if check and proc.returncode != 0:
        raise CommandFailed(["testbed.sh", *args], proc)
    return proc


class Machine:
    """One testbed machine, addressed by name."""

    def __init__(self, name: str):
        self.name = name
        self.facts: dict[str, Any] = {}  # what the session fixture observed while setting the machine up

    # --- lifecycle ---------------------------------------------------------------------------------

    def up(self) -> None:
        run_testbed("up", self.name)

    def down(self) -> None:
        run_testbed("down", self.name, timeout=120)

    def install(self, deb: str) -> subprocess.CompletedProcess:
        return run_testbed("install", self.name, deb, timeout=600)

    # --- commands ----------------------------------------------------------------------------------

    def run(
        self,
        *cmd: str,
        user: str | None = None,
        input: str | None = None,
        check: bool = True,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess:
        """Run CMD inside, as root or as USER; text output captured. Raises CommandFailed if check and rc != 0."""
        args = ["exec-as", self.name, user, *cmd] if user else ["exec", self.name, *cmd]
        proc = subprocess.run(
            [str(TESTBED), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
        if check and proc.returncode != 0:
            raise CommandFailed(list(cmd) if not user else ["(as " + user + ")", *cmd], proc)
        return proc

    def sh(self, script: str, **kw: Any) -> subprocess.CompletedProcess:
        return self.run("sh", "-c", script, **kw)

    def exists(self, path: str) -> bool:
        return self.run("test", "-e", path, check=False).returncode == 0

    # --- systemd -----------------------------------------------------------------------------------

    def unit(self, name: str) -> dict[str, str]:
        """`systemctl show NAME` as a dict (ActiveState, SubState, Result, MainPID, InvocationID, ...)."""
        out = self.run("systemctl", "show", "--no-pager", name).stdout
        props: dict[str, str] = {}
        for line in out.splitlines():
            key, sep, value = line.partition("=")
            if sep:
                props[key] = value
        return props

    def active_state(self, name: str) -> str:
        return self.unit(name)["ActiveState"]

    def socket_listens(self, name: str) -> tuple[bool, str]:
        """Whether socket unit NAME listens: active, and "listening" (or "running": its service holds the fds)."""
        u = self.unit(name)
        return u["ActiveState"] == "active" and u["SubState"] in ("listening", "running"), (
            f"{name}: {u['ActiveState']}/{u['SubState']} (Result={u.get('Result')})"
        )

    def journal(self, *args: str) -> list[dict[str, Any]]:
        """`journalctl -o json ARGS...` inside, parsed: one dict per entry, fields decoded to str."""
        out = self.run("journalctl", "--no-pager", "-o", "json", *args).stdout
        return [decode_entry(json.loads(line)) for line in out.splitlines() if line.strip()]


def decode_entry(raw: dict[str, Any]) -> dict[str, Any]:
    """journalctl's JSON gives non-UTF-8 values as byte arrays and repeated fields as lists; make them str."""

    def one(v: Any) -> Any:
        if isinstance(v, list) and all(isinstance(b, int) for b in v):
            return bytes(v).decode("utf-8", "replace")
        if isinstance(v, list):
            return [one(x) for x in v]
        return v

    return {k: one(v) for k, v in raw.items()}


def show_entry(e: dict[str, Any]) -> str:
    """An entry as one readable line for assertion messages (internal fields dropped)."""
    keep = {k: v for k, v in e.items() if not k.startswith("__") and k not in ("_BOOT_ID", "_MACHINE_ID")}
    return json.dumps(keep, sort_keys=True)


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


class HTTPResult:
    def __init__(self, status: int, headers: dict[str, str], body: bytes):
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"HTTP {self.status} {self.body[:300]!r}"


_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy: it's loopback


def http_get(path: str, timeout: float = 10) -> HTTPResult:
    """GET BASE_URL+path from the host. HTTP errors are returned, not raised; connection errors raise."""
    try:
        with _opener.open(BASE_URL + path, timeout=timeout) as r:
            return HTTPResult(r.status, {k.lower(): v for k, v in r.headers.items()}, r.read())
    except urllib.error.HTTPError as e:
        return HTTPResult(e.code, {k.lower(): v for k, v in e.headers.items()}, e.read())


def tcp_accepts(host: str = HOST, port: int = PORT, timeout: float = 5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def host_listeners(port: int = PORT) -> str:
    """What listens on PORT on the host (`ss -ltn`), empty if nothing."""
    return subprocess.run(
        ["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout.strip()


# A line-protocol client for a unix socket, run inside the machine with python3 -c: sends stdin, prints the reply.
UNIX_CLIENT = r"""
import socket, sys
path = sys.argv[1]
data = sys.stdin.buffer.read()
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(path)
s.sendall(data)
buf = b""
while not buf.endswith(b"\n"):
    chunk = s.recv(65536)
    if not chunk:
        break
    buf += chunk
sys.stdout.write(buf.decode("utf-8", "replace"))
"""
