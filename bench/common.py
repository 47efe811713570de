"""What every probe shares. The probes run inside the bench machine as root (bench/run.sh copies bench/ to
/srv/bench there) and print one line per sample on standard output:

    KEY<TAB>VALUE            a sample (ms, MB, MB/s, requests/s: the report knows each key's unit)
    KEY<TAB>FAIL<TAB>WHY     a failed attempt: counted and reported, never timed
    KEY<TAB>NOTE<TAB>TEXT    a fact for the report (a spread, a count, what was skipped)

bench/report.py turns them into the table.
"""
import base64
import http.client
import json
import os
import pwd
import select
import socket
import subprocess
import sys
import time

HOST = "127.0.0.1"
STUDIO_PORT, APPS_PORT, COCKPIT_PORT = 7080, 7081, 9090
STUDIO_ORIGIN, COCKPIT_ORIGIN = f"http://{HOST}:{STUDIO_PORT}", f"http://{HOST}:{COCKPIT_PORT}"
USER, PASSWORD = "bench", "bench-password"
os.environ["TERM"] = "xterm-256color"   # what setpriv --reset-env keeps, for every terminal here


def emit(key, value):
    print(f"{key}\t{value:.4f}", flush=True)


def fail(key, why):
    print(f"{key}\tFAIL\t{' '.join(str(why).split())[:300]}", flush=True)
    print(f"bench: {key}: {why}", file=sys.stderr, flush=True)


def note(key, text):
    print(f"{key}\tNOTE\t{text}", flush=True)


def sh(*args, check=True, **kw):
    return subprocess.run(args, check=check, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def launcher(user):
    """The one way every timed command is started, for Studio's side and the peer's alike: setpriv to USER
    (root for the peers that need it), with USER's environment."""
    return ["setpriv", f"--reuid={user}", f"--regid={pwd.getpwnam(user).pw_gid}", "--init-groups", "--reset-env"]


# The socket that starts each service the probes stop.
SOCKETS = {"cockpit*.service": "cockpit.socket", "studiod.service": "studiod.socket",
           "studio-sandbox.service": "studio-sandbox.socket"}


def stop_units(*patterns):
    """Stop them, forget their failures and start limits (their sockets' too: `reset-failed NAME*`), and make sure
    their sockets listen again (a service that hit its start limit takes its socket down with it)."""
    subprocess.run(["systemctl", "stop", *patterns], check=False, stderr=subprocess.DEVNULL)
    subprocess.run(["systemctl", "reset-failed", *patterns, *[p.removesuffix(".service") for p in patterns]],
                   check=False, stderr=subprocess.DEVNULL)
    for socket_unit in [SOCKETS[p] for p in patterns if p in SOCKETS]:
        if subprocess.run(["systemctl", "is-active", "-q", socket_unit]).returncode != 0:
            RESTARTED_SOCKETS[socket_unit] = RESTARTED_SOCKETS.get(socket_unit, 0) + 1
            subprocess.run(["systemctl", "start", socket_unit], check=True)


RESTARTED_SOCKETS = {}   # socket → how many times stop_units found it down (its service had hit its start limit)


def main_pid(unit):
    out = sh("systemctl", "show", "-P", "MainPID", unit).stdout.strip()
    return int(out) if out and out != "0" else None


def pids_named(comm):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as f:
                    if f.read().strip() == comm:
                        found.append(int(entry))
            except OSError:
                pass
    return found


def pss_mb(pid):
    """Proportional set size of PID in MB (shared pages divided among their users), from smaps_rollup."""
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no Pss in /proc/{pid}/smaps_rollup")


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])   # utime + stime, in clock ticks


# --- HTTP -------------------------------------------------------------------------------------------------------------

class HTTPFailure(Exception):
    pass


def request(method, port, path, body=None, headers=None, expect=(200,), timeout=30):
    """(seconds to the first byte of the answer, the response, its body). A status not in EXPECT, a reset or a
    timeout raises HTTPFailure: it is a failure, never a timing."""
    start = time.perf_counter()
    try:
        conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
        conn.request(method, path, body, headers or {})
        response = conn.getresponse()
        first = time.perf_counter() - start
        data = response.read()
        conn.close()
    except (OSError, http.client.HTTPException) as e:
        raise HTTPFailure(f"{method} :{port}{path}: {e!r}") from None
    if response.status not in expect:
        raise HTTPFailure(f"{method} :{port}{path}: HTTP {response.status} {data[:200]!r}")
    return first, response, data


def studio_login():
    """(seconds, session cookie) of a login through studiod and the broker's PAM."""
    start = time.perf_counter()
    _, response, _ = request("POST", STUDIO_PORT, "/api/v1/login", json.dumps({"username": USER, "password": PASSWORD}),
                          {"Content-Type": "application/json", "Origin": STUDIO_ORIGIN})
    elapsed = time.perf_counter() - start
    return elapsed, response.getheader("Set-Cookie").split(";")[0]


def studio_logout(cookie):
    request("POST", STUDIO_PORT, "/api/v1/logout", headers={"Cookie": cookie, "Origin": STUDIO_ORIGIN}, expect=(204,))


def cockpit_login():
    """(seconds, cookie) of a login to cockpit-ws as its login page does it: GET /cockpit/login with Basic."""
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    start = time.perf_counter()
    _, response, _ = request("GET", COCKPIT_PORT, "/cockpit/login", headers={"Authorization": f"Basic {auth}",
                                                                           "X-Superuser": "none"})
    elapsed = time.perf_counter() - start
    cookie = next(c.split(";")[0] for c in response.headers.get_all("Set-Cookie") if c.startswith("cockpit="))
    return elapsed, cookie


# --- WebSocket (RFC 6455, client side) --------------------------------------------------------------------------------

class WebSocket:
    def __init__(self, port, path, headers, protocol=None, timeout=30):
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", f"Host: {HOST}:{port}", "Upgrade: websocket", "Connection: Upgrade",
                 f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        if protocol:
            lines.append(f"Sec-WebSocket-Protocol: {protocol}")
        lines += [f"{k}: {v}" for k, v in headers.items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        buffer = bytearray()
        while b"\r\n\r\n" not in buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise HTTPFailure(f"WebSocket {path}: closed during the upgrade: {bytes(buffer)[:200]!r}")
            buffer += chunk
        head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise HTTPFailure(f"WebSocket {path}: upgrade refused: {head[:300]!r}")
        self.buffer = bytearray(rest)
        self.path = path

    def send(self, payload, opcode=0x2):
        n = len(payload)
        if n < 126:
            head = bytes([0x80 | opcode, 0x80 | n])
        elif n < 65536:
            head = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
        else:
            head = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
        mask = os.urandom(4)
        if n:
            masked = (int.from_bytes(payload, "big") ^ int.from_bytes((mask * (n // 4 + 1))[:n], "big")).to_bytes(n, "big")
        else:
            masked = b""
        self.sock.sendall(head + mask + masked)

    def recv(self):
        """(opcode, payload) of the next text or binary frame; pings are answered, a close raises EOFError."""
        buffer = self.buffer
        while True:
            if len(buffer) >= 2:
                length, offset = buffer[1] & 0x7F, 2
                if length == 126:
                    length, offset = int.from_bytes(buffer[2:4], "big"), 4
                elif length == 127:
                    length, offset = int.from_bytes(buffer[2:10], "big"), 10
                if len(buffer) >= offset + length:
                    opcode = buffer[0] & 0x0F
                    payload = bytes(buffer[offset:offset + length])
                    del buffer[:offset + length]
                    if opcode == 0x9:
                        self.send(payload, opcode=0xA)
                        continue
                    if opcode == 0x8:
                        raise EOFError(f"WebSocket {self.path} closed by the server: {payload[2:200]!r}")
                    if opcode == 0xA:
                        continue
                    return opcode, payload
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise EOFError(f"WebSocket {self.path}: connection closed (unread: {bytes(buffer)[:200]!r})")
            buffer += chunk

    def close(self):
        try:
            self.send(b"\x03\xe8", opcode=0x8)
        except OSError:
            pass
        self.sock.close()


class StudioTerminal:
    """A terminal of a workspace through studiod's WebSocket (docs/web-api.md, "Terminals")."""

    def __init__(self, cookie, workspace, terminal, cols=200, rows=50):
        self.ws = WebSocket(STUDIO_PORT, f"/api/v1/workspaces/{workspace}/terminals/{terminal}?cols={cols}&rows={rows}",
                            {"Origin": STUDIO_ORIGIN, "Cookie": cookie})

    def write(self, data):
        self.ws.send(data, opcode=0x2)

    def read(self, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            if time.monotonic() > deadline:   # studiod's pings would otherwise keep this waiting forever
                raise TimeoutError(f"studio terminal: no data for {timeout} s")
            opcode, payload = self.ws.recv()
            if opcode == 0x2:
                return payload
            message = json.loads(payload)
            if message.get("type") in ("exit", "error"):
                raise EOFError(f"studio terminal: {message}")

    def close(self):
        self.ws.close()


class CockpitSession:
    """cockpit-ws's WebSocket (/cockpit/socket), as cockpit.js speaks it: messages are `CHANNEL\\nPAYLOAD`, the
    control channel is the empty one; `init` both ways first; channel pings are answered with pongs (its flow
    control: the bridge stops sending when they are not)."""

    def __init__(self, cookie):
        self.ws = WebSocket(COCKPIT_PORT, "/cockpit/socket", {"Origin": COCKPIT_ORIGIN, "Cookie": cookie},
                            protocol="cockpit1")
        self.pending = []
        while True:
            channel, payload = self._next()
            if channel == "" and json.loads(payload)["command"] == "init":
                break
        self.control({"command": "init", "version": 1, "host": "localhost"})
        self.count = 0

    def control(self, message):
        self.ws.send(b"\n" + json.dumps(message).encode(), opcode=0x1)

    def _next(self):
        _, payload = self.ws.recv()
        channel, _, data = payload.partition(b"\n")
        return channel.decode(), data

    def open_terminal(self, cols=200, rows=50):
        """A terminal as Cockpit's own terminal page opens one: a `stream` channel spawning the login shell on a pty."""
        self.count += 1
        channel = f"t{self.count}"
        shell = pwd.getpwnam(USER).pw_shell
        self.control({"command": "open", "channel": channel, "payload": "stream", "spawn": [shell, "-i"],
                      "environ": ["TERM=xterm-256color", "PATH=/usr/local/bin:/usr/bin:/bin"],
                      "directory": pwd.getpwnam(USER).pw_dir, "pty": True, "window": {"rows": rows, "cols": cols}})
        return CockpitTerminal(self, channel)

    def read(self, want, timeout=30):
        """The next data of channel WANT (data of other channels is kept for them)."""
        for i, (channel, data) in enumerate(self.pending):
            if channel == want:
                del self.pending[i]
                return data
        deadline = time.monotonic() + timeout
        while True:
            if time.monotonic() > deadline:   # cockpit-ws's own pings would otherwise keep this waiting forever
                raise TimeoutError(f"cockpit channel {want}: no data for {timeout} s")
            channel, data = self._next()
            if channel == "":
                message = json.loads(data)
                if message.get("command") == "ping" and "channel" in message:
                    message["command"] = "pong"
                    self.control(message)
                elif message.get("command") == "close" and message.get("channel") == want:
                    raise EOFError(f"cockpit closed channel {want}: {message}")
                continue
            if channel == want:
                return data
            self.pending.append((channel, data))

    def close(self):
        self.ws.close()


class CockpitTerminal:
    def __init__(self, session, channel):
        self.session, self.channel = session, channel

    def write(self, data):
        self.session.ws.send(self.channel.encode() + b"\n" + data, opcode=0x1)

    def read(self):
        return self.session.read(self.channel)


def open_pty(cols=200, rows=50):
    """(master, slave) of a new pty of that size."""
    import fcntl
    import struct
    import termios
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    return master, slave


class MasterTerminal:
    """Whatever runs on a pty, read and written through its master."""

    def __init__(self, master):
        self.master = master

    def write(self, data):
        os.write(self.master, data)

    def read(self, timeout=30):
        if not select.select([self.master], [], [], timeout)[0]:
            raise TimeoutError(f"pty: nothing to read for {timeout} s")
        try:
            data = os.read(self.master, 1 << 20)
        except OSError as e:
            raise EOFError(f"pty: {e}") from None
        if not data:
            raise EOFError("pty closed")
        return data

    def close(self):
        os.close(self.master)


class PtyTerminal(MasterTerminal):
    """The raw peer: the user's shell on a pty of our own, read straight from its master."""

    def __init__(self, argv=None, cols=200, rows=50):
        import fcntl
        import termios
        master, slave = open_pty(cols, rows)
        entry = pwd.getpwnam(USER)
        argv = argv or launcher(USER) + ["env", "-C", entry.pw_dir, "TERM=xterm-256color", entry.pw_shell, "-i"]
        self.process = subprocess.Popen(argv,
                                        stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
                                        preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
        os.close(slave)
        self.master = master

    def close(self):
        self.process.kill()
        self.process.wait()
        os.close(self.master)


def read_chunk(terminal):
    """What the last read_until left after its marker, else the terminal's next data."""
    rest = getattr(terminal, "rest", b"")
    if rest:
        terminal.rest = b""
        return rest
    return terminal.read()


def read_until(terminal, marker, limit=30):
    """Read the terminal until MARKER has been seen; returns how many bytes were read. What came after the marker
    in the same chunk is kept for the next read (read_chunk)."""
    deadline = time.monotonic() + limit
    tail, total = b"", 0
    while True:
        try:
            data = read_chunk(terminal)
        except TimeoutError as e:
            raise TimeoutError(f"{e}; waiting for {marker!r} after {tail[-120:]!r}") from None
        total += len(data)
        window = tail + data
        found = window.find(marker)
        if found >= 0:
            terminal.rest = window[found + len(marker):]
            return total
        tail = window[-max(len(marker) + 1, 200):]
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {marker!r} within {limit}s, after {tail[-120:]!r}")


def wait_prompt(terminal, limit=30):
    """A fresh shell: wait for its prompt, then check it answers a command."""
    read_until(terminal, b"$ ", limit)
    terminal.write(b"echo ready-$((40+2))\r")
    read_until(terminal, b"ready-42", limit)
    read_until(terminal, b"$ ", limit)


# --- Workspaces -------------------------------------------------------------------------------------------------------

def studioctl_in(workspace, *args):
    """`studioctl ARGS` as USER in ~/WORKSPACE (its project directory), its output dropped."""
    subprocess.run(launcher(USER) + ["sh", "-c", f'cd "$HOME/{workspace}" && exec studioctl "$@"', "sh", *args],
                   check=True, stdout=subprocess.DEVNULL)


def workspace_start_round(key, cookie, workspace, terminal_name):
    """One timing of a stopped workspace's start to a usable terminal, as the dashboard does it: `POST
    /api/v1/workspaces/W/start`, then the terminal's WebSocket, until the shell has shown its prompt and answered a
    typed command (wait_prompt). Emitted as KEY (and KEY.start: the part until the start request's answer, the
    rest being the terminal), or a failure; the workspace is stopped afterwards (untimed)."""
    headers = {"Cookie": cookie, "Origin": STUDIO_ORIGIN}
    terminal = None
    try:
        start = time.perf_counter()
        request("POST", STUDIO_PORT, f"/api/v1/workspaces/{workspace}/start", headers=headers)
        started = time.perf_counter()
        terminal = StudioTerminal(cookie, workspace, terminal_name)
        wait_prompt(terminal)
        done = time.perf_counter()
        emit(key, (done - start) * 1000)
        emit(f"{key}.start", (started - start) * 1000)   # of it: until the start's answer (the agent ready)
    except (HTTPFailure, EOFError, TimeoutError, OSError) as e:
        fail(key, e)
    finally:
        if terminal:
            terminal.close()
        studioctl_in(workspace, "stop", workspace)
