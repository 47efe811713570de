#!/usr/bin/python3
"""studio-vm-ctl: the guest end of the VM tests' control channel (no ssh, no network).

Runs inside the VM as a systemd service (studio-vm-ctl.service, started early in boot). It reads one JSON
request per line from the virtio-serial port named "studio.ctl" and writes one JSON answer line per request:

    request  {"id": "...", "argv": ["cmd", ...], "input": "text" | null, "user": null | "alice",
              "cwd": null | "/path", "timeout": seconds}
    answer   {"id": "...", "rc": N, "stdout": "...", "stderr": "...", "timed_out": false}

Each request runs in a thread of its own, so a request whose host caller gave up (and whose answer the host
will skip) does not hold up the next one; the host sends one request at a time. rc is the command's exit status, or -N if signal N ended it (as in Python's
subprocess). A command that runs past its timeout is killed with its whole process group; its answer then has
"timed_out": true. As root the command gets a clean environment; as a user it runs through
`setpriv --reuid --regid --init-groups --reset-env`, as tests/system/testbed.sh exec-as does, in cwd or the
user's home.

The host end is tests/vm/vm.py. When the host disconnects, read() returns EOF (the kernel reports the port's
host side as closed); this service then waits for the host to come back. An answer written while no host is
connected blocks until one connects; the host skips answers whose id is not its own.
"""

import glob
import json
import os
import pwd
import signal
import subprocess
import sys
import threading
import time

PORT_NAME = "studio.ctl"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
ROOT_ENV = {
    "PATH": PATH,
    "HOME": "/root",
    "USER": "root",
    "LOGNAME": "root",
    "SHELL": "/bin/bash",
    "LANG": "C.UTF-8",
    "TERM": "dumb",
    "DEBIAN_FRONTEND": "noninteractive",
}
# Run as the user: $1 is the directory (empty: the user's home), the rest is the command.
AS_USER = (
    'if [ -n "$1" ]; then cd "$1" || exit 125; else cd "$HOME" 2>/dev/null || cd /; fi; '
    'shift; exec env LANG=C.UTF-8 "$@"'
)
MAX_OUTPUT = 32 << 20  # bytes of stdout or stderr kept per request


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def find_port() -> str:
    """/dev/vportNpM of the port named studio.ctl (devtmpfs makes the node; no udev needed)."""
    while True:
        for d in sorted(glob.glob("/sys/class/virtio-ports/*")):
            try:
                with open(os.path.join(d, "name")) as f:
                    if f.read().strip() == PORT_NAME:
                        return "/dev/" + os.path.basename(d)
            except OSError:
                pass
        time.sleep(0.5)


def command_for(req: dict) -> tuple[list[str], dict | None, str | None]:
    argv = [str(a) for a in req.get("argv") or []]
    if not argv:
        raise ValueError("empty argv")
    user = req.get("user")
    cwd = req.get("cwd")
    if user:
        try:
            pw = pwd.getpwnam(user)
        except KeyError:
            raise LookupError(f"studio-vm-ctl: no user {user!r} in the VM") from None
        return (
            ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--init-groups", "--reset-env",
             "/bin/sh", "-c", AS_USER, "sh", cwd or "", *argv],
            {"PATH": PATH, "LANG": "C.UTF-8"},
            "/",
        )
    return argv, dict(ROOT_ENV), cwd or "/"


def decode(data: bytes) -> str:
    if len(data) > MAX_OUTPUT:
        data = data[:MAX_OUTPUT] + b"\n[studio-vm-ctl: output cut at %d bytes]\n" % MAX_OUTPUT
    return data.decode("utf-8", "replace")


def handle(req: dict) -> dict:
    answer = {"id": req.get("id"), "rc": None, "stdout": "", "stderr": "", "timed_out": False}
    timeout = float(req.get("timeout") or 600)
    try:
        argv, env, cwd = command_for(req)
    except (ValueError, LookupError) as e:
        answer.update(rc=125, stderr=f"{e}\n")
        return answer
    data = req.get("input")
    try:
        proc = subprocess.Popen(
            argv, env=env, cwd=cwd, start_new_session=True,
            stdin=subprocess.PIPE if data is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
    except OSError as e:
        answer.update(rc=127 if isinstance(e, FileNotFoundError) else 126, stderr=f"studio-vm-ctl: {argv[0]}: {e}\n")
        return answer
    try:
        out, err = proc.communicate(data.encode() if data is not None else None, timeout=timeout)
    except subprocess.TimeoutExpired:
        answer["timed_out"] = True
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        try:  # whatever left its process group may still hold the pipes: do not wait for it for long
            out, err = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = b"", b"studio-vm-ctl: output lost (a process outside the group held the pipes)\n"
            proc.wait()
    answer.update(rc=proc.returncode, stdout=decode(out or b""), stderr=decode(err or b""))
    return answer


def write_all(fd: int, data: bytes) -> None:
    while data:
        n = os.write(fd, data)
        data = data[n:]


WRITE_LOCK = threading.Lock()


def answer_request(fd: int, line: bytes) -> None:
    start = time.monotonic()
    req = None
    try:
        req = json.loads(line)
        if not isinstance(req, dict):
            raise ValueError("not an object")
    except ValueError as e:
        req = None
        answer = {"id": None, "rc": 125, "stdout": "", "stderr": f"studio-vm-ctl: bad request: {e}\n", "timed_out": False}
    else:
        answer = handle(req)
    who = f"as {req['user']}: " if req and req.get("user") else ""
    summary = " ".join(map(str, req.get("argv") or []))[:120] if req else "?"
    log(f"{who}{summary} -> rc={answer['rc']}{' (timed out)' if answer['timed_out'] else ''}"
        f" in {time.monotonic() - start:.2f}s")
    with WRITE_LOCK:
        write_all(fd, json.dumps(answer).encode() + b"\n")


def serve(fd: int) -> None:
    buf = b""
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:  # no host connected: drop a half-received request, wait for the host to (re)connect
            buf = b""
            time.sleep(0.2)
            continue
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if line.strip():
                threading.Thread(target=answer_request, args=(fd, line), daemon=True).start()


def main() -> None:
    path = find_port()
    log(f"serving requests on {path} ({PORT_NAME})")
    fd = os.open(path, os.O_RDWR)
    serve(fd)


if __name__ == "__main__":
    main()
