"""Drive a machine booted by testbed.sh from the host, the way a user would: commands, systemctl, journal, HTTP.

Everything goes through tests/system/testbed.sh, so the tests and the README demo use the same machinery.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness import CommandFailed, explain, poll, show_properties  # noqa: E402  (tests/harness.py, shared with the other tier)

TESTBED = Path(__file__).resolve().with_name("testbed.sh")
HOST = "127.0.0.1"
PORT = 7080
BASE_URL = f"http://{HOST}:{PORT}"
NAME = "studio-test"  # the machine the suite boots
TEST_DROPIN = "/etc/studio/studio.conf.d/50-test.conf"  # the tests' configuration, written before first use

T = TypeVar("T")


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
        return show_properties(out)

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


# Connects to the unix socket argv[1] inside the machine; prints "connected" or the error's type and errno.
CONNECT = r"""
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print(type(e).__name__, e.errno)
else:
    print("connected")
"""


# --- Workspaces (tests 50-98) ------------------------------------------------------------------------------------

ALICE, BOB = "alice", "bob"  # the ordinary users the workspace tests act as (the session fixture creates them)
CONF_DROPINS = "/etc/studio/studio.conf.d"
AGENT_RUNTIME_ROOT = "/run/studio/ws"

# (what, seconds) of timed studioctl commands, shown at the end of the run (conftest.py) and kept with the journal.
TIMINGS: list[tuple[str, float]] = []

# Runs "$@" in directory $1 and reports how long "$@" took, measured inside the machine (so without the cost of
# entering it), as a last stderr line that Machine.studioctl takes off again.
_TIMED = r"""cd "$1" || exit 125
shift
s=$EPOCHREALTIME
"$@"
rc=$?
e=$EPOCHREALTIME
printf '\n@@studio-test-elapsed %s %s\n' "$s" "$e" >&2
exit $rc
"""


def ws_unit(owner: str, name: str) -> str:
    """A workspace's unit (owner names without dashes, so no escaping needed)."""
    return f"studio-ws-{owner}-{name}.service"


def _studioctl(self: Machine, user: str, *args: str, cwd: str | None = None, input: str | None = None,
               timeout: float = 60) -> subprocess.CompletedProcess:
    """`studioctl ARGS...` as USER in CWD (default: USER's home); never raises on a non-zero exit.

    The result has .elapsed (seconds the command took inside the machine) and .cmd (for messages)."""
    home = cwd or ("/root" if user == "root" else f"/home/{user}")
    cmd = ["bash", "-c", _TIMED, "bash", home, "studioctl", *args]
    proc = self.run(*cmd, user=None if user == "root" else user, input=input, check=False, timeout=timeout)
    proc.elapsed = None
    lines = proc.stderr.split("\n")
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith("@@studio-test-elapsed "):
            _, s, e = lines[i].split()
            proc.elapsed = float(e) - float(s)
            # drop the marker and the blank line printed before it
            del lines[i]
            if i > 0 and lines[i - 1] == "":
                del lines[i - 1]
            break
    proc.stderr = "\n".join(lines)
    proc.cmd = f"(as {user}{', in ' + cwd if cwd else ''}) studioctl {' '.join(args)}"
    return proc


def _ws_units(self: Machine) -> list[str]:
    """Every loaded studio-ws-* unit, whatever its state (`systemctl list-units --all`)."""
    out = self.run("systemctl", "list-units", "--all", "--plain", "--no-legend", "--no-pager", "studio-ws-*").stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _proc_uids(self: Machine, pid: str | int) -> list[str]:
    status = self.run("cat", f"/proc/{pid}/status").stdout
    for line in status.splitlines():
        if line.startswith("Uid:"):
            return line.split()[1:]
    raise AssertionError(f"no Uid: line in /proc/{pid}/status")


def _write_file(self: Machine, path: str, text: str) -> None:
    self.run("sh", "-c", 'mkdir -p "$(dirname "$1")" && cat > "$1"', "sh", path, input=text)


Machine.studioctl = _studioctl
Machine.ws_units = _ws_units
Machine.proc_uids = _proc_uids
Machine.write_file = _write_file


# Drives a program on a pseudo-terminal inside the machine, as a person at a terminal would (a python3 stand-in
# for tmux/expect, which the testbed tree does not carry). argv[1]: JSON list of steps; argv[2:]: the program.
#   ["send", TEXT]               type TEXT
#   ["expect", REGEX, TIMEOUT]   wait until output after the previous match matches REGEX
#   ["exit", TIMEOUT]            wait until the program exits; its exit status goes into the report
# Prints one JSON object: ok, step (index of the failed step), why, output (all of it), status.
PTY_DRIVER = r"""
import fcntl, json, os, pty, re, select, signal, struct, sys, termios, time
steps = json.loads(sys.argv[1])
argv = sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.environ["TERM"] = "xterm-256color"
    try:
        os.execvp(argv[0], argv)
    finally:
        os._exit(127)
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
out = b""
eof = False
status = None
report = {"ok": True}

def pump(timeout):
    global out, eof
    if eof:
        time.sleep(min(timeout, 0.05))
        return
    r, _, _ = select.select([fd], [], [], timeout)
    if r:
        try:
            data = os.read(fd, 65536)
        except OSError:
            data = b""
        if data:
            out += data
        else:
            eof = True

def reap(block):
    global status
    if status is None:
        p, st = os.waitpid(pid, 0 if block else os.WNOHANG)
        if p:
            status = os.waitstatus_to_exitcode(st)

cursor = 0
for i, step in enumerate(steps):
    kind = step[0]
    if kind == "send":
        os.write(fd, step[1].encode())
    elif kind == "expect":
        pattern = re.compile(step[1].encode())
        deadline = time.monotonic() + step[2]
        while True:
            m = pattern.search(out, cursor)
            if m:
                cursor = m.end()
                break
            if time.monotonic() >= deadline or (eof and status is not None):
                report = {"ok": False, "step": i, "why": f"no {step[1]!r} within {step[2]}s" + (" (the program ended)" if eof else "")}
                break
            pump(0.1)
            if eof:
                reap(False)
    elif kind == "exit":
        deadline = time.monotonic() + step[1]
        while status is None and time.monotonic() < deadline:
            pump(0.1)
            reap(False)
        if status is None:
            report = {"ok": False, "step": i, "why": f"the program did not exit within {step[1]}s"}
    if not report["ok"]:
        break
if status is None:
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while status is None and time.monotonic() < deadline:
        pump(0.1)
        reap(False)
    if status is None:
        os.kill(pid, signal.SIGKILL)
        reap(True)
    report["killed"] = True
while not eof:
    pump(0.2)
    if not select.select([fd], [], [], 0)[0]:
        break
report["status"] = status
report["output"] = out.decode("utf-8", "replace")
print(json.dumps(report))
"""


def on_terminal(machine: Machine, user: str, steps: list, *argv: str, cwd: str | None = None,
                timeout: float = 60) -> dict[str, Any]:
    """Run ARGV as USER on a pseudo-terminal inside the machine, following STEPS (see PTY_DRIVER)."""
    home = cwd or f"/home/{user}"
    proc = machine.run("sh", "-c", 'cd "$1" && shift && exec "$@"', "sh", home, "python3", "-c", PTY_DRIVER,
                       json.dumps(steps), *argv, user=user, check=False, timeout=timeout)
    try:
        report = json.loads(proc.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        raise AssertionError(f"the terminal driver failed:\n{explain(proc)}") from None
    report["argv"] = list(argv)
    return report


def show_terminal(report: dict[str, Any]) -> str:
    """What a terminal session showed, for assertion messages (escape sequences left visible)."""
    return (f"{' '.join(report.get('argv', []))}: ok={report.get('ok')} status={report.get('status')} "
            f"step={report.get('step')} why={report.get('why')}\n--- terminal output ---\n"
            f"{report.get('output', '')!r}")


def timespan_us(text: str) -> float | None:
    """A timespan as `systemctl show` prints it (`2s`, `1.500000s`, `1s 500ms`) in microseconds; None for infinity."""
    import re as _re
    if text in ("infinity", ""):
        return None
    scale = {"us": 1, "ms": 1e3, "s": 1e6, "min": 60e6, "h": 3600e6}
    total = 0.0
    for number, unit in _re.findall(r"([0-9.]+)\s*(us|ms|min|s|h)", text):
        total += float(number) * scale[unit]
    return total


# --- Raw broker requests and background commands (tests 65, 67) ---------------------------------------------------

BROKER_SOCKET = "/run/studio/sandbox.sock"

# Sends each request line (stdin: a JSON list of lines, without their newlines) to the broker on a connection of its
# own and prints a JSON list: for each, the first answer line (without its newline), "" if the broker closed without
# answering, or "connect: <error> <errno>" if the connection was refused. argv[1]: the socket.
BROKER_EACH = r"""
import json, socket, sys
path = sys.argv[1]
out = []
for line in json.load(sys.stdin):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(15)
    try:
        s.connect(path)
    except OSError as e:
        out.append(f"connect: {type(e).__name__} {e.errno}")
        s.close()
        continue
    try:
        s.sendall(line.encode() + b"\n")
    except OSError:
        pass  # the broker may close early (a line too long); its answer is still there to read
    buf = b""
    try:
        while b"\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    except OSError:
        pass
    s.close()
    out.append(buf.decode("utf-8", "replace").split("\n")[0])
print(json.dumps(out))
"""


def _broker_lines(self: Machine, user: str, lines: list[str], timeout: float = 120) -> list[str]:
    """Sends each of LINES to the broker as USER ("root" for root), each on a connection of its own; returns the
    first answer line of each (see BROKER_EACH)."""
    proc = self.run("python3", "-c", BROKER_EACH, BROKER_SOCKET, user=None if user == "root" else user,
                    input=json.dumps(lines), check=False, timeout=timeout)
    try:
        answers = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"the broker client failed:\n{explain(proc)}") from None
    assert len(answers) == len(lines), f"{len(lines)} requests, {len(answers)} answers:\n{explain(proc)}"
    return answers


def _broker(self: Machine, user: str, request: dict[str, Any] | str) -> dict[str, Any]:
    """One request to the broker as USER (a dict is sent as JSON, a str as it is); its answer, parsed."""
    line = request if isinstance(request, str) else json.dumps(request)
    answer = _broker_lines(self, user, [line])[0]
    try:
        return json.loads(answer)
    except json.JSONDecodeError:
        raise AssertionError(f"the broker's answer to {line[:300]!r} as {user} is not JSON: {answer!r}") from None


def _spawn(self: Machine, *cmd: str, user: str | None = None) -> subprocess.Popen:
    """Starts CMD inside (as USER, or root) without waiting: a Popen with text stdin/stdout/stderr pipes."""
    args = ["exec-as", self.name, user, *cmd] if user and user != "root" else ["exec", self.name, *cmd]
    return subprocess.Popen([str(TESTBED), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


Machine.broker_lines = _broker_lines
Machine.broker = _broker
Machine.spawn = _spawn


def answer_error(answer: dict[str, Any]) -> str | None:
    """The error code of a broker answer, or None for an answer that is ok."""
    if answer.get("ok") is True:
        return None
    return (answer.get("error") or {}).get("code", "(no code)")
