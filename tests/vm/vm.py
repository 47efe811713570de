"""Drive a VM booted by tests/vm/vm.sh from the host: commands (as root or a user), systemctl, files.

Commands travel over the VM's control channel, a virtio-serial port that qemu exposes on the host as the unix
socket $STUDIO_TESTBED_DIR/vms/NAME/ctl.sock; the guest end is tests/vm/guest/studio-vm-ctl.py (see there for
the protocol). One request at a time: callers on the host take a lock first.

Also a small command line for vm.sh (which owns the socket paths):
    python3 vm.py ping SOCKET [--timeout S]                      exit 0 if the guest answers
    python3 vm.py run SOCKET [--user U] [--cwd D] [--timeout S] -- CMD...   run CMD; its output and exit status
    python3 vm.py powerdown QMP_SOCKET                            press the VM's (ACPI) power button
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Callable, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness import CommandFailed, explain, poll, show_properties  # noqa: E402  (tests/harness.py, shared with the other tier)

HERE = Path(__file__).resolve().parent
VM_SH = HERE / "vm.sh"
BASE = Path(os.environ.get("STUDIO_TESTBED_DIR", "/var/lib/studio-testbed"))
NAME = "studio-vm"  # the VM the suite boots
ALICE = "alice"
MARGIN = 30.0  # seconds the host waits beyond a request's own timeout (the guest enforces that one)

T = TypeVar("T")


class ChannelError(RuntimeError):
    """The control channel did not carry a request and its answer."""


def call(sock_path: str | Path, request: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Send one request over the control socket and return the guest's answer to it.

    Takes the channel's lock (next to the socket) first, so callers on the host queue up instead of
    interleaving. Answers with another id (to a request whose caller gave up) are skipped."""
    sock_path = Path(sock_path)
    deadline = time.monotonic() + timeout
    request = dict(request, id=request.get("id") or uuid.uuid4().hex)
    with open(sock_path.with_name("ctl.lock"), "a+") as lock:
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise ChannelError(f"{sock_path}: another caller held the channel for {timeout:g}s") from None
                time.sleep(0.05)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                s.connect(str(sock_path))
            except OSError as e:
                raise ChannelError(f"cannot connect to {sock_path}: {e} (is the VM up?)") from None
            s.sendall(json.dumps(request).encode() + b"\n")
            buf = b""
            while True:
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    try:
                        answer = json.loads(line)
                    except ValueError:
                        continue  # half a line from a connection before ours
                    if isinstance(answer, dict) and answer.get("id") == request["id"]:
                        return answer
                left = deadline - time.monotonic()
                if left <= 0:
                    raise socket.timeout()
                s.settimeout(left)
                chunk = s.recv(1 << 20)
                if not chunk:
                    raise ChannelError(f"{sock_path}: qemu closed the channel (did the VM stop?)")
                buf += chunk
        except socket.timeout:
            raise ChannelError(f"{sock_path}: no answer within {timeout:g}s to {request.get('argv')}") from None
        finally:
            s.close()


class VM:
    """One VM booted by vm.sh, addressed by name."""

    def __init__(self, name: str = NAME):
        self.name = name
        self.dir = BASE / "vms" / name
        self.socket = self.dir / "ctl.sock"
        self.facts: dict[str, Any] = {}

    # --- lifecycle (vm.sh) -------------------------------------------------------------------------

    def vm_sh(self, *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
        proc = subprocess.run([str(VM_SH), *args], capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise CommandFailed(["vm.sh", *args], proc)
        return proc

    def up(self, deb: str) -> subprocess.CompletedProcess:
        return self.vm_sh("up", self.name, deb)

    def down(self) -> subprocess.CompletedProcess:
        return self.vm_sh("down", self.name, check=False, timeout=180)

    # --- commands ----------------------------------------------------------------------------------

    def run(self, *argv: str, user: str | None = None, input: str | None = None, check: bool = True,
            timeout: float = 120, cwd: str | None = None) -> subprocess.CompletedProcess:
        """Run ARGV in the VM as root or as USER (in CWD, default: USER's home or /). Like subprocess.run with
        capture_output and text: .returncode (-N for signal N), .stdout, .stderr. Raises CommandFailed if check
        and the exit status is not 0, subprocess.TimeoutExpired when it ran past timeout (the guest then killed
        its process group)."""
        req = {"argv": list(argv), "user": user, "input": input, "cwd": cwd, "timeout": timeout}
        answer = call(self.socket, req, timeout + MARGIN)
        shown = list(argv) if not user else [f"(as {user})", *argv]
        if answer.get("timed_out"):
            raise subprocess.TimeoutExpired(shown, timeout, output=answer.get("stdout"), stderr=answer.get("stderr"))
        proc = subprocess.CompletedProcess(shown, answer["rc"], answer.get("stdout", ""), answer.get("stderr", ""))
        if check and proc.returncode != 0:
            raise CommandFailed(shown, proc)
        return proc

    def sh(self, script: str, *args: str, **kw: Any) -> subprocess.CompletedProcess:
        """Run a shell script (bash) in the VM; ARGS are its $1, $2, ..."""
        return self.run("bash", "-c", script, "bash", *args, **kw)

    def read(self, path: str) -> str:
        return self.run("cat", path).stdout

    def write_file(self, path: str, text: str) -> None:
        self.run("sh", "-c", 'mkdir -p "$(dirname "$1")" && cat > "$1"', "sh", path, input=text)

    def unit(self, name: str) -> dict[str, str]:
        """`systemctl show NAME` as a dict (ActiveState, SubState, Result, MainPID, ControlGroup, ...)."""
        out = self.run("systemctl", "show", "--no-pager", name).stdout
        return show_properties(out)

    def studioctl(self, user: str, *args: str, cwd: str | None = None, input: str | None = None,
                  timeout: float = 120) -> subprocess.CompletedProcess:
        """`studioctl ARGS...` as USER in CWD (default: USER's home); never raises on a non-zero exit."""
        proc = self.run("studioctl", *args, user=None if user == "root" else user, cwd=cwd, input=input,
                        check=False, timeout=timeout)
        proc.cmd = f"(as {user}{', in ' + cwd if cwd else ''}) studioctl {' '.join(args)}"
        return proc


def qmp_powerdown(sock_path: str | Path, timeout: float = 10) -> None:
    """Press the VM's power button through qemu's QMP socket (the guest's logind powers off). Does not need the
    control channel, so it works while that is busy or the guest's service is wedged."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(sock_path))
        f = s.makefile("rwb")

        def answer() -> dict:
            while True:  # skip asynchronous events
                line = f.readline()
                if not line:
                    raise ChannelError(f"{sock_path}: qemu closed QMP")
                msg = json.loads(line)
                if "return" in msg or "error" in msg:
                    return msg

        f.readline()  # the greeting
        for cmd in ("qmp_capabilities", "system_powerdown"):
            f.write(json.dumps({"execute": cmd}).encode() + b"\n")
            f.flush()
            msg = answer()
            if "error" in msg:
                raise ChannelError(f"{sock_path}: {cmd}: {msg['error']}")


# --- command line (vm.sh) ----------------------------------------------------------------------------------------

def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="vm.py")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("ping")
    p.add_argument("socket")
    p.add_argument("--timeout", type=float, default=5)
    r = sub.add_parser("run")
    r.add_argument("socket")
    r.add_argument("--user")
    r.add_argument("--cwd")
    r.add_argument("--timeout", type=float, default=600)
    q = sub.add_parser("powerdown")
    q.add_argument("socket")
    # The command is everything after "--" (argparse's REMAINDER would also swallow the options before it).
    cmd = argv[argv.index("--") + 1:] if "--" in argv else []
    a = ap.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    if a.cmd == "ping":
        try:
            answer = call(a.socket, {"argv": ["true"], "timeout": a.timeout}, a.timeout)
        except (ChannelError, OSError):
            return 1
        return 0 if answer.get("rc") == 0 else 1
    if a.cmd == "powerdown":
        try:
            qmp_powerdown(a.socket)
        except (ChannelError, OSError, ValueError) as e:
            print(f"vm.py: powerdown: {e}", file=sys.stderr)
            return 1
        return 0
    if not cmd:
        ap.error("run: give the command after --")
    data = None if sys.stdin.isatty() else sys.stdin.read()
    try:
        answer = call(a.socket, {"argv": cmd, "user": a.user, "cwd": a.cwd, "input": data, "timeout": a.timeout},
                      a.timeout + MARGIN)
    except ChannelError as e:
        print(f"vm.py: {e}", file=sys.stderr)
        return 255
    sys.stdout.write(answer.get("stdout", ""))
    sys.stderr.write(answer.get("stderr", ""))
    if answer.get("timed_out"):
        print(f"vm.py: {cmd[0]} ran longer than {a.timeout:g}s; killed", file=sys.stderr)
        return 124
    rc = answer.get("rc")
    return 128 - rc if isinstance(rc, int) and rc < 0 else rc if isinstance(rc, int) else 255


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
