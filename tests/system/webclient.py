"""A browser's side of Studio's web API, for the system tests: HTTP with cookies and Origin, and WebSockets.

Runs on the host. The test machine shares the host's network namespace (testbed.sh boots it without
--private-network, see /work/shared/testbed-notes.md), so studiod's 127.0.0.1:7080 (dashboard) and 127.0.0.1:7081
(apps) inside the machine are the host's 127.0.0.1:7080 and :7081, and studiod sees the tests' connections come from
127.0.0.1, as a browser on the same box would. Plain http.client and sockets: nothing to install, and full control of
what is sent (no redirects followed, no cookie jar, no proxy, any Origin or none, any source address in 127.0.0.0/8).
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json as jsonlib
import os
import re
import select
import socket
import struct
import time
import urllib.parse
from typing import Any

DASHBOARD = "http://127.0.0.1:7080"  # the dashboard origin: the UI and /api/v1
APPS = "http://127.0.0.1:7081"  # the apps origin: /<owner>/<workspace>/apps/<app>/
ORIGIN = DASHBOARD  # what a browser on the dashboard sends as Origin
SESSION_COOKIE = "studio_session"
APP_COOKIE = "studio_app"
_UNSET: Any = object()
NO_BODY = _UNSET  # Browser.call(..., json=NO_BODY): send no body at all (None would send JSON null)


class SetCookie:
    """One Set-Cookie header: name, value, and its attributes by lower-case name (flags map to True)."""

    def __init__(self, header: str):
        self.header = header
        first, *attributes = header.split(";")
        name, _, value = first.partition("=")
        self.name, self.value = name.strip(), value.strip()
        self.attributes: dict[str, Any] = {}
        for attribute in attributes:
            key, sep, val = attribute.partition("=")
            self.attributes[key.strip().lower()] = val.strip() if sep else True

    def get(self, attribute: str) -> Any:
        return self.attributes.get(attribute.lower())

    def __repr__(self) -> str:
        return f"Set-Cookie: {self.header}"


class Response:
    """An HTTP answer: status, headers (in order, repeats kept), body."""

    def __init__(self, method: str, url: str, status: int, reason: str, headers: list[tuple[str, str]], body: bytes):
        self.method, self.url, self.status, self.reason, self.headers, self.body = method, url, status, reason, headers, body

    def header(self, name: str) -> str | None:
        values = self.header_all(name)
        return values[0] if values else None

    def header_all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self) -> Any:
        try:
            return jsonlib.loads(self.body)
        except ValueError:
            raise AssertionError(f"the answer is not JSON: {self!r}") from None

    @property
    def error_code(self) -> str | None:
        """The `error.code` of an error answer; None when the body is not one."""
        try:
            return jsonlib.loads(self.body)["error"]["code"]
        except (ValueError, KeyError, TypeError):
            return None

    @property
    def error_message(self) -> str | None:
        try:
            return jsonlib.loads(self.body)["error"]["message"]
        except (ValueError, KeyError, TypeError):
            return None

    def cookies(self) -> dict[str, SetCookie]:
        """The cookies this answer sets, by name."""
        return {c.name: c for c in map(SetCookie, self.header_all("Set-Cookie"))}

    def __repr__(self) -> str:
        shown = {k: v for k, v in self.headers if k.lower() in ("content-type", "location", "set-cookie", "retry-after")}
        return f"{self.method} {self.url} -> HTTP {self.status} {self.reason} {shown} {self.body[:600]!r}"


def request(method: str, url: str, *, json: Any = _UNSET, data: bytes | None = None,
            headers: dict[str, str] | None = None, source: str | None = None, timeout: float = 60) -> Response:
    """One HTTP request to URL (http://host:port/path?query), on a connection of its own. JSON is sent as
    application/json; DATA as it is. SOURCE binds the client end to that local address (e.g. 127.0.0.2), so the server
    sees the request come from there. HTTP errors are answers, not exceptions."""
    parts = urllib.parse.urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout,
                                      source_address=(source, 0) if source else None)
    sent = dict(headers or {})
    body = data
    if json is not _UNSET:
        body = jsonlib.dumps(json).encode()
        sent.setdefault("Content-Type", "application/json")
    try:
        # skip_host only when the caller gives a Host of its own (to test the Origin rule against it).
        conn.putrequest(method, target, skip_host="Host" in sent, skip_accept_encoding=True)
        for k, v in sent.items():
            conn.putheader(k, v)
        if body is not None or method in ("POST", "PUT", "PATCH"):
            conn.putheader("Content-Length", str(len(body or b"")))
        conn.endheaders(body)
        r = conn.getresponse()
        return Response(method, url, r.status, r.reason, r.getheaders(), r.read())
    finally:
        conn.close()


class Browser:
    """A user's browser on the dashboard: sends its session cookie (if it has one) and, on a state-changing call, the
    dashboard's Origin, as browsers do. Each call may override both."""

    def __init__(self, session: str | None = None, base: str = DASHBOARD, origin: str | None = ORIGIN,
                 source: str | None = None):
        self.session, self.base, self.origin, self.source = session, base, origin, source
        self.user: dict[str, Any] | None = None

    def call(self, method: str, path: str, json: Any = _UNSET, *, data: bytes | None = None,
             headers: dict[str, str] | None = None, origin: Any = _UNSET, cookie: Any = _UNSET,
             timeout: float = 120) -> Response:
        sent: dict[str, str] = {}
        cookie = (f"{SESSION_COOKIE}={self.session}" if self.session else None) if cookie is _UNSET else cookie
        if cookie is not None:
            sent["Cookie"] = cookie
        if origin is _UNSET:
            origin = self.origin if method not in ("GET", "HEAD") else None
        if origin is not None:
            sent["Origin"] = origin
        sent.update(headers or {})
        return request(method, self.base + path, json=json, data=data, headers=sent, source=self.source,
                       timeout=timeout)

    def get(self, path: str, **kw: Any) -> Response:
        return self.call("GET", path, **kw)

    def post(self, path: str, json: Any = _UNSET, **kw: Any) -> Response:
        return self.call("POST", path, json, **kw)

    def patch(self, path: str, json: Any = _UNSET, **kw: Any) -> Response:
        return self.call("PATCH", path, json, **kw)

    def delete(self, path: str, **kw: Any) -> Response:
        return self.call("DELETE", path, **kw)

    def login(self, username: str, password: str, **kw: Any) -> Response:
        """POST /api/v1/login; on 200 the browser keeps the session cookie it was given."""
        r = self.post("/api/v1/login", {"username": username, "password": password}, cookie=None, **kw)
        if r.status == 200:
            cookie = r.cookies().get(SESSION_COOKIE)
            assert cookie is not None and cookie.value, f"login answered 200 without a {SESSION_COOKIE} cookie: {r!r}"
            self.session = cookie.value
            self.user = r.json().get("user")
        return r

    def terminal(self, workspace: str, terminal: str, query: str = "cols=80&rows=24", **kw: Any):
        """Opens the terminal's WebSocket with this browser's cookie and Origin: (handshake answer, WebSocket or None)."""
        kw.setdefault("cookie", f"{SESSION_COOKIE}={self.session}" if self.session else None)
        kw.setdefault("origin", self.origin)
        path = f"/api/v1/workspaces/{workspace}/terminals/{terminal}" + (f"?{query}" if query else "")
        return WebSocket.open(self.base.replace("http://", "ws://") + path, **kw)


def logged_in(username: str, password: str) -> Browser:
    """A browser that has logged in as USERNAME (asserting it could)."""
    b = Browser()
    r = b.login(username, password)
    assert r.status == 200, f"{username} could not log in: {r!r}"
    return b


def read_event_stream(url: str, *, headers: dict[str, str] | None = None, events: int = 1,
                      timeout: float = 15) -> tuple[Response, list[str]]:
    """GETs URL and reads a text/event-stream answer until EVENTS `data:` lines came or TIMEOUT passed; then hangs up.
    Returns the answer (its body empty when it is a stream) and the data lines' payloads."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""), headers=headers or {})
        r = conn.getresponse()
        answer = Response("GET", url, r.status, r.reason, r.getheaders(), b"")
        if r.status != 200 or not (answer.header("Content-Type") or "").startswith("text/event-stream"):
            answer.body = r.read()
            return answer, []
        data: list[str] = []
        deadline = time.monotonic() + timeout
        while len(data) < events and time.monotonic() < deadline:
            try:
                line = r.fp.readline()
            except (TimeoutError, OSError):
                break
            if not line:
                break
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            if text.startswith("data:"):
                data.append(text[5:].lstrip(" "))
        return answer, data
    finally:
        conn.close()


def _read_body(sock: socket.socket, answer: Response, rest: bytes) -> bytes:
    """The body of an answer read off a raw socket: by Content-Length, chunked, or up to the connection's end."""
    def more() -> bytes:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError
        return chunk

    try:
        length = answer.header("Content-Length")
        if length is not None:
            while len(rest) < int(length):
                rest += more()
            return rest[: int(length)]
        if "chunked" in (answer.header("Transfer-Encoding") or "").lower():
            body = b""
            while True:
                while b"\r\n" not in rest:
                    rest += more()
                size_line, _, rest = rest.partition(b"\r\n")
                size = int(size_line.split(b";")[0], 16)
                while len(rest) < size + 2:
                    rest += more()
                body, rest = body + rest[:size], rest[size + 2:]
                if size == 0:
                    return body
        while True:
            rest += more()
    except (EOFError, OSError):
        return rest


# --- WebSocket (RFC 6455), client side --------------------------------------------------------------------------

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class WebSocketClosed(Exception):
    pass


class WebSocket:
    """A minimal WebSocket client: masked frames out, fragmented frames in, pings answered, close handshake."""

    def __init__(self, sock: socket.socket, leftover: bytes):
        self.sock = sock
        self.buffer = leftover
        self.closed = False
        self.close_code: int | None = None
        self.output = b""  # every binary frame's payload so far (the terminal's bytes)
        self.texts: list[str] = []  # every text frame so far (control messages)

    @classmethod
    def open(cls, url: str, *, cookie: str | None = None, origin: str | None = ORIGIN,
             headers: dict[str, str] | None = None, timeout: float = 15):
        """Upgrades GET URL (ws://host:port/path?query) to a WebSocket. Returns (the handshake's answer, the WebSocket)
        on 101, or (the refusal, None) for an ordinary HTTP answer."""
        parts = urllib.parse.urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {target} HTTP/1.1", f"Host: {parts.hostname}:{parts.port}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        if origin is not None:
            lines.append(f"Origin: {origin}")
        if cookie is not None:
            lines.append(f"Cookie: {cookie}")
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        try:
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(65536)
                if not chunk:
                    raise AssertionError(f"GET {url}: the server closed the connection during the handshake: {data!r}")
                data += chunk
            head, _, rest = data.partition(b"\r\n\r\n")
            status_line, *header_lines = head.decode("latin-1").split("\r\n")
            _, status, *reason = status_line.split(" ", 2)
            hdrs = [(k.strip(), v.strip()) for k, _, v in (h.partition(":") for h in header_lines)]
            answer = Response("GET", url, int(status), reason[0] if reason else "", hdrs, b"")
            if answer.status != 101:
                answer.body = _read_body(sock, answer, rest)
                sock.close()
                return answer, None
            expected = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()
            assert answer.header("Sec-WebSocket-Accept") == expected, (
                f"GET {url}: Sec-WebSocket-Accept is {answer.header('Sec-WebSocket-Accept')!r}, not {expected!r}")
            assert (answer.header("Upgrade") or "").lower() == "websocket", f"GET {url}: 101 without Upgrade: {answer!r}"
            return answer, cls(sock, rest)
        except BaseException:
            sock.close()
            raise

    # --- sending ---

    def _send(self, opcode: int, payload: bytes) -> None:
        header = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 1 << 16:
            header += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def send_binary(self, data: bytes | str) -> None:
        self._send(BINARY, data.encode() if isinstance(data, str) else data)

    def send_text(self, text: str) -> None:
        self._send(TEXT, text.encode())

    def send_json(self, message: Any) -> None:
        self.send_text(jsonlib.dumps(message))

    def close(self, code: int = 1000) -> None:
        """Sends a close frame, waits briefly for the server's, and closes the connection."""
        if not self.closed:
            try:
                self._send(CLOSE, struct.pack(">H", code))
                deadline = time.monotonic() + 3
                while not self.closed and time.monotonic() < deadline:
                    self.receive(deadline - time.monotonic())
            except (OSError, WebSocketClosed, TimeoutError):
                pass
        self.closed = True
        self.sock.close()

    # --- receiving ---

    def _read(self, n: int, deadline: float) -> bytes:
        while len(self.buffer) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _, _ = select.select([self.sock], [], [], left)
            if not ready:
                raise TimeoutError
            chunk = self.sock.recv(65536)
            if not chunk:
                self.closed = True
                raise WebSocketClosed("the server closed the connection")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def _frame(self, deadline: float) -> tuple[bool, int, bytes]:
        b0, b1 = self._read(2, deadline)
        assert not b1 & 0x80, "the server sent a masked frame (RFC 6455 5.1: it must not)"
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack(">H", self._read(2, deadline))[0]
        elif n == 127:
            n = struct.unpack(">Q", self._read(8, deadline))[0]
        return bool(b0 & 0x80), b0 & 0x0F, self._read(n, deadline)

    def receive(self, timeout: float) -> tuple[int, bytes] | None:
        """The next whole message (opcode, payload) within TIMEOUT seconds, or None. Pings are answered; a close frame
        is answered and returned as (CLOSE, payload)."""
        deadline = time.monotonic() + max(timeout, 0)
        message_opcode, parts = None, []
        try:
            while True:
                fin, opcode, payload = self._frame(deadline)
                if opcode == PING:
                    self._send(PONG, payload)
                    continue
                if opcode == PONG:
                    continue
                if opcode == CLOSE:
                    self.close_code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else None
                    if not self.closed:
                        try:
                            self._send(CLOSE, payload[:2])
                        except OSError:
                            pass
                    self.closed = True
                    return CLOSE, payload
                if opcode != CONT:
                    message_opcode = opcode
                parts.append(payload)
                if fin:
                    data = b"".join(parts)
                    if message_opcode == BINARY:
                        self.output += data
                    elif message_opcode == TEXT:
                        self.texts.append(data.decode("utf-8"))
                    return message_opcode, data
        except TimeoutError:
            return None

    def read_until(self, pattern: str | bytes, timeout: float = 10, since: int = 0) -> re.Match:
        """Reads until the terminal's output (from offset SINCE) matches PATTERN; the match. Fails after TIMEOUT
        seconds showing everything received."""
        regex = re.compile(pattern.encode() if isinstance(pattern, str) else pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = regex.search(self.output, since)
            if m:
                return m
            left = deadline - time.monotonic()
            if left <= 0 or self.closed:
                raise AssertionError(
                    f"no {regex.pattern!r} in the terminal within {timeout:g}s"
                    f"{' (the WebSocket closed, code ' + str(self.close_code) + ')' if self.closed else ''}\n"
                    f"--- terminal output ---\n{self.output.decode('utf-8', 'replace')!r}\n"
                    f"--- text frames ---\n{self.texts}")
            try:
                self.receive(left)
            except WebSocketClosed:
                pass

    def __enter__(self) -> "WebSocket":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
