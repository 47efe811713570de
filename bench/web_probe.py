"""Web figures, measured inside the bench machine: the dashboard's first page cold (socket activation) and warm,
a login through PAM, and a terminal keystroke to its echo through studiod's WebSocket. Prints `label<TAB>ms` lines.

usage: python3 web_probe.py ROUNDS USER PASSWORD WORKSPACE
"""
import base64
import http.client
import json
import os
import socket
import subprocess
import sys
import time

rounds, user, password, workspace = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
HOST, PORT, ORIGIN = "127.0.0.1", 7080, "http://127.0.0.1:7080"


def out(label, seconds):
    print(f"{label}\t{seconds * 1000:.3f}", flush=True)


def first_byte(path):
    """Seconds from connecting to the first byte of the answer (as curl's time_starttransfer); HTTP errors fail."""
    start = time.perf_counter()
    conn = http.client.HTTPConnection(HOST, PORT, timeout=10)
    conn.request("GET", path)
    response = conn.getresponse()
    elapsed = time.perf_counter() - start
    body = response.read()
    conn.close()
    if response.status != 200 or not body:
        sys.exit(f"GET {path}: HTTP {response.status}")
    return elapsed


def login():
    start = time.perf_counter()
    conn = http.client.HTTPConnection(HOST, PORT, timeout=10)
    conn.request("POST", "/api/v1/login", json.dumps({"username": user, "password": password}),
                 {"Content-Type": "application/json", "Origin": ORIGIN})
    response = conn.getresponse()
    response.read()
    elapsed = time.perf_counter() - start
    if response.status != 200:
        sys.exit(f"login: HTTP {response.status}")
    cookie = response.getheader("Set-Cookie").split(";")[0]
    conn.close()
    return elapsed, cookie


def frame(payload, opcode=0x2):
    mask = os.urandom(4)
    head = bytes([0x80 | opcode, 0x80 | len(payload)])
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def read_frame(sock, buffer):
    """The next data frame's payload; pings are answered."""
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
                    sock.sendall(frame(payload, opcode=0xA))
                    continue
                if opcode == 0x8:
                    sys.exit("the terminal's WebSocket was closed by the server")
                return payload
        chunk = sock.recv(65536)
        if not chunk:
            sys.exit(f"the terminal's WebSocket closed (unread: {bytes(buffer)[:200]!r})")
        buffer += chunk


for _ in range(rounds):
    subprocess.run(["systemctl", "stop", "studiod.service"], check=True)
    out("dashboard first page, cold (socket activation)", first_byte("/"))
    out("dashboard first page, warm", first_byte("/"))
for _ in range(rounds):
    elapsed, cookie = login()
    out("login through PAM (POST /api/v1/login)", elapsed)

sock = socket.create_connection((HOST, PORT))
key = base64.b64encode(os.urandom(16)).decode()
sock.sendall((f"GET /api/v1/workspaces/{workspace}/terminals/bench-{os.getpid()}?cols=200&rows=24 HTTP/1.1\r\nHost: {HOST}:{PORT}\r\n"
              f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
              f"Origin: {ORIGIN}\r\nCookie: {cookie}\r\n\r\n").encode())
buffer = bytearray()
while b"\r\n\r\n" not in buffer:
    buffer += sock.recv(65536)
head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
if not head.startswith(b"HTTP/1.1 101"):
    sys.exit(f"terminal upgrade refused: {head[:200]!r}")
buffer = bytearray(rest)
sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
# A fresh terminal: wait for the shell's prompt; then readline echoes each typed character at once.
prompt = b""
while b"$ " not in prompt:
    prompt += read_frame(sock, buffer)
for index in range(rounds * 10):
    if index % 100 == 99:
        sock.sendall(frame(b"\x15"))  # Ctrl-U: keep the command line short
        time.sleep(0.2)
        sock.setblocking(False)
        try:
            while True:
                read_frame(sock, buffer)
        except BlockingIOError:
            pass
        sock.setblocking(True)
    key_byte = bytes([ord("a") + index % 26])
    start = time.perf_counter()
    sock.sendall(frame(key_byte))
    seen = b""
    while key_byte not in seen:
        seen += read_frame(sock, buffer)
    out("terminal keystroke to echo (WebSocket, through broker and agent)", time.perf_counter() - start)
sock.close()
