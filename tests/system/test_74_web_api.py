"""The web API (docs/web-api.md) as a person at a browser meets it, with real Linux accounts and PAM.

What this proves, from the dashboard's side:
- logging in takes a real account's password (PAM, service `studio`) and gives a session cookie that scripts cannot
  read and other sites cannot send (HttpOnly, SameSite=Strict, Path=/; Secure only behind a TLS proxy); a wrong
  password, an unknown user and a locked account all get the same 401, and the attempt is audited with the address;
- every call needs a live session, and a logged-out cookie is dead everywhere: API, terminals, apps;
- no other site can change anything: a state-changing call or WebSocket upgrade with a foreign Origin, or none, is
  refused with 403 and changes nothing;
- a workspace goes through its whole life over the API (create, start, limits, restart, stop, delete), the answers
  are what systemd shows, and bad input is refused with 400/404/409 and nothing made;
- one user cannot see, touch, or even detect another's workspace: bob gets the same 404 for alice's workspace as for
  one that never existed;
- a terminal over a WebSocket runs what is typed, replays its scrollback on reconnect and follows resizes;
- a container workspace (Backend=container on the image `built`) says so (`backend`, `image`), its templates and the
  images are listed, `root=1` opens a root terminal inside, and `reset` drops what root changed (and with `home` the
  home) only while stopped: 409 while running, 400 for a host workspace, 404 for bob, audited as alice;
- an app opens through a one-time ticket that sets a cookie for exactly that app's path; the app never sees Studio's
  cookies, and nothing else (another path, a session cookie, bob, a used ticket, a logged-out session) gets in;
- studiod's unix socket serves only /healthz; passwords never reach the journal; too many failed logins for one
  account or from one address are refused with 429 and Retry-After, for a while, without locking out anyone else.

How the tests reach studiod: from the host, over TCP. The machine shares the host's network namespace (testbed.sh
boots it without --private-network), so 127.0.0.1:7080 and :7081 here are studiod's, and studiod sees the tests come
from 127.0.0.1 as a browser on the same box would (test_20 reaches /healthz the same way). tests/system/webclient.py
is the browser: plain http.client and a small RFC 6455 client, so any header (Origin, Host, Cookie) or none can be
sent, and a source address other than 127.0.0.1 can be bound for the per-address login limit.
"""

from __future__ import annotations

import datetime
import json
import re
import secrets
import time
import urllib.parse

import pytest

from machine import ALICE, BOB, Machine, explain, poll, show_entry, timespan_us, ws_unit
from webclient import (
    APP_COOKIE, APPS, DASHBOARD, NO_BODY, SESSION_COOKIE, Browser, Response, WebSocket, WebSocketClosed, logged_in,
    read_event_stream, request,
)

LOCKED = "erin"  # an account whose password gets locked (usermod -L)
LIMITED = "frank"  # an account that fails logins until it is rate-limited (so alice and bob never are)
WS = "web1"  # alice's workspace for the lifecycle (default template)
APP_WS = "webapp"  # alice's workspace with the echo app and the terminal
APP = "echo"
TEMPLATE = "webtest"
TEMPLATE_FILE = f"/etc/studio/templates/{TEMPLATE}.conf"
TEMPLATE_DESCRIPTION = "Echoes HTTP requests on its app socket (system tests)"
ECHO_APP = "/usr/local/lib/studio-test/echo-app.py"
NOBODYS = "never-made-by-anyone"  # a workspace name nobody has
EVIL = "http://evil.example"
STUDIOD_SOCKET = "/run/studio/studiod.sock"
BOX_WS = "webbox"  # alice's container workspace, from the template BOX_TEMPLATE on the image `built`
BOX_TEMPLATE = "webbox"
BOX_TEMPLATE_FILE = f"/etc/studio/templates/{BOX_TEMPLATE}.conf"
HOST_RESET_WS = "webhostreset"  # alice's host workspace that reset refuses
WORKSPACE_DATA = "/var/lib/studio/workspaces"  # a container workspace's layer and home: <uid>-<name>/{upper,home}
KEEP_WS = "webkeep"  # alice's workspace for keep and the activity records (started with studioctl, not the API)
IDLE_TIMEOUT = 2 * 3600  # studio.conf's [Idle] Timeout= default
IDLE_UNKNOWN = {"lastActivityAt": None, "lastActivitySource": None, "lastWorkAt": None, "busy": None, "keepUntil": None,
                "keptBy": None, "idleSince": None, "stopsAt": None, "stoppedForIdleAt": None}
IDLE_KEYS = {"timeoutSeconds", *IDLE_UNKNOWN}
GiB = 1024**3
DEFAULT_LIMITS = {"memoryMaxBytes": 4 * GiB, "cpus": 2, "tasksMax": 4096}  # studio.conf's [Limits], as in test_50
WRONG_LOGIN = {"error": {"code": "unauthorized", "message": "wrong user name or password"}}
WRONG_PASSWORD = f"not-the-password-{secrets.token_hex(6)}"  # a wrong password; must not reach the journal either
LOGIN_MESSAGE_ID = "4b1e8f2a9c3d4e7f8a0b1c2d3e4f5a6b"  # units/studio.catalog
LOGOUT_MESSAGE_ID = "6c2d9e3f0a1b4c8d9e2f3a4b5c6d7e8f"

# The app of the test template: HTTP on the unix socket $STUDIO_APP_SOCKET (python3 -m http.server cannot bind one),
# answering every request with what it saw: path, Cookie header, its uid.
ECHO_APP_SOURCE = r'''
import base64, hashlib, http.server, json, os, socketserver, sys

path = os.environ["STUDIO_APP_SOCKET"]
try:
    os.unlink(path)
except FileNotFoundError:
    pass


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        cookies = self.headers.get_all("Cookie") or []
        if (self.headers.get("Upgrade") or "").lower() == "websocket":
            return self.websocket(cookies)
        body = json.dumps({"app": "echo", "method": self.command, "path": self.path,
                           "cookie": "; ".join(cookies) if cookies else None, "uid": os.getuid(),
                           "host": self.headers.get_all("Host")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def websocket(self, cookies):
        """A WebSocket echo: first what it saw (path, cookies), then "echo:" and each text message back."""
        accept = base64.b64encode(hashlib.sha1((self.headers["Sec-WebSocket-Key"] +
                                                "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()

        def send(opcode, payload):
            n = len(payload)
            head = bytes([0x80 | opcode]) + (bytes([n]) if n < 126 else bytes([126]) + n.to_bytes(2, "big"))
            self.wfile.write(head + payload)
            self.wfile.flush()

        send(1, json.dumps({"path": self.path, "cookie": "; ".join(cookies) if cookies else None}).encode())
        while True:
            b0, b1 = self.rfile.read(2)
            n = b1 & 0x7F
            if n == 126:
                n = int.from_bytes(self.rfile.read(2), "big")
            elif n == 127:
                n = int.from_bytes(self.rfile.read(8), "big")
            mask = self.rfile.read(4) if b1 & 0x80 else b"\0\0\0\0"
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(self.rfile.read(n)))
            if b0 & 0x0F == 8:
                send(8, payload[:2])
                return
            if b0 & 0x0F == 1:
                send(1, b"echo:" + payload)

    def address_string(self):
        return "unix"

    def log_message(self, fmt, *args):
        sys.stderr.write("echo-app: " + (fmt % args) + "\n")


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


Server(path, Handler).serve_forever()
'''

TEMPLATE_TEXT = f"""[Template]
Description={TEMPLATE_DESCRIPTION}
Backend=host
[App:{APP}]
Command=exec python3 {ECHO_APP}
"""


# --- Helpers ----------------------------------------------------------------------------------------------------------

def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def parse_time(text: str) -> datetime.datetime:
    """An RFC 3339 time as the API writes it (`2026-11-24T20:00:00Z`, fractions allowed)."""
    assert isinstance(text, str), f"not a time string: {text!r}"
    t = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert t.tzinfo is not None, f"{text!r} has no time zone"
    return t


def is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def expect_error(r: Response, status: int, code: str) -> None:
    """R is the documented error answer: STATUS, JSON `{"error": {"code": CODE, "message": non-empty}}`."""
    assert r.status == status, f"expected {status} {code}: {r!r}"
    assert "application/json" in (r.header("Content-Type") or ""), f"an error answer must be JSON: {r!r}"
    body = r.json()
    assert set(body) == {"error"} and body["error"].get("code") == code, f"expected code {code}: {r!r}"
    assert isinstance(body["error"].get("message"), str) and body["error"]["message"].strip(), f"no message: {r!r}"


def ws_path(name: str, suffix: str = "") -> str:
    return f"/api/v1/workspaces/{name}{suffix}"


def app_path(owner: str = ALICE, workspace: str = APP_WS, app: str = APP) -> str:
    return f"/{owner}/{workspace}/apps/{app}/"


def app_get(path: str, cookie: str | None) -> Response:
    """GET on the apps origin with exactly the Cookie header COOKIE (or none)."""
    return request("GET", APPS + path, headers={"Cookie": cookie} if cookie is not None else {})


def cookie_pairs(header: str | None) -> dict[str, str]:
    pairs = {}
    for part in (header or "").split(";"):
        k, sep, v = part.strip().partition("=")
        if sep:
            pairs[k] = v
    return pairs


def open_app(browser: Browser) -> tuple[str, Response, str]:
    """As the dashboard does: a ticket for alice's echo app, opened. (ticket URL, the redirect, the app cookie)."""
    r = browser.post(ws_path(APP_WS, f"/apps/{APP}/ticket"))
    assert r.status == 200, f"no ticket for {APP_WS}/{APP}: {r!r}"
    url = r.json()["url"]
    opened = request("GET", url)
    cookie = opened.cookies().get(APP_COOKIE)
    assert opened.status in (302, 303) and cookie is not None and cookie.value, (
        f"opening the ticket URL should redirect and set {APP_COOKIE}: {opened!r}")
    return url, opened, cookie.value


def wait_for_app(cookie: str, path: str = app_path(), timeout: float = 30) -> Response:
    """The app's first 200 through the apps origin (it starts with the workspace and binds its socket a moment
    later; until then the proxy cannot reach it)."""
    seen: list[Response] = []

    def answered():
        r = app_get(path, cookie)
        seen.append(r)
        return r if r.status == 200 else None

    try:
        return poll(answered, timeout, f"the echo app to answer at {path}", interval=0.5)
    except AssertionError as e:
        raise AssertionError(f"{e}\nlast answer: {seen[-1]!r}" if seen else str(e)) from None


def usage_agrees_with_systemd(machine: Machine, workspace: dict) -> None:
    """A running workspace's `usage`: numbers where systemd counts (what `systemctl show` gives, read just after),
    null where it does not (the nspawn testbed's cgroup v1 may not count some)."""
    usage = workspace["usage"]
    u = machine.unit(workspace["unit"])
    assert set(usage) == {"memoryBytes", "cpuSeconds", "tasks", "oomKills"}, usage

    def counted(prop: str) -> int | None:
        v = u.get(prop, "")
        return int(v) if v.isdigit() and int(v) < 2**64 - 1 else None

    memory, cpu_ns, tasks = counted("MemoryCurrent"), counted("CPUUsageNSec"), counted("TasksCurrent")
    shown = f"usage {usage}; systemd: MemoryCurrent={u.get('MemoryCurrent')} CPUUsageNSec={u.get('CPUUsageNSec')} " \
            f"TasksCurrent={u.get('TasksCurrent')}"
    if tasks is None:
        assert usage["tasks"] is None, shown
    else:
        assert is_number(usage["tasks"]) and usage["tasks"] >= 1 and abs(usage["tasks"] - tasks) <= 3, shown
    if memory is None:
        assert usage["memoryBytes"] is None, shown
    else:
        assert is_number(usage["memoryBytes"]) and memory / 2 <= usage["memoryBytes"] <= memory * 2, shown
    if cpu_ns is None:
        assert usage["cpuSeconds"] is None, shown
    else:
        assert is_number(usage["cpuSeconds"]) and 0 <= usage["cpuSeconds"] <= cpu_ns / 1e9 + 0.5, shown
    # OOM kills: counted on cgroup v2 (none happened), null on cgroup v1 where the kernel does not count.
    assert usage["oomKills"] in (0, None), shown


def activity_records(machine: Machine, workspace: str, since_us: int) -> list[dict]:
    """Activity records (STUDIO_EVENT=activity) of alice's WORKSPACE since SINCE_US, whoever wrote them."""
    return [e for e in machine.journal("STUDIO_EVENT=activity", f"STUDIO_USER={ALICE}", f"STUDIO_WORKSPACE={workspace}")
            if int(e["__REALTIME_TIMESTAMP"]) >= since_us]


def studiod_activity(machine: Machine, workspace: str, since_us: int) -> list[dict]:
    """Those of them written by studiod itself: what studio-idled believes (by journald's fields, not by the
    record's own)."""
    studio_uid = machine.run("id", "-u", "studio").stdout.strip()
    return [e for e in activity_records(machine, workspace, since_us)
            if e.get("_SYSTEMD_UNIT") == "studiod.service" and e.get("_UID") == studio_uid]


def expect_api_activity(machine: Machine, workspace: str, since_us: int, what: str) -> dict:
    """Exactly one activity record from studiod for alice's WORKSPACE since SINCE_US, source api (one: they are
    throttled to one per workspace and source per 30 s)."""
    try:
        records = poll(lambda: studiod_activity(machine, workspace, since_us), 10,
                       f"an activity record from studiod.service for {ALICE}/{workspace} after {what}")
    except AssertionError as e:
        shown = activity_records(machine, workspace, since_us)
        raise AssertionError(f"{e}\nactivity records of {workspace}:\n" + "\n".join(map(show_entry, shown))) from None
    time.sleep(1)  # a second one would have come with the first
    records = studiod_activity(machine, workspace, since_us)
    assert len(records) == 1, "\n".join(map(show_entry, records))
    e = records[0]
    assert (e.get("STUDIO_SOURCE"), e.get("STUDIO_USER"), e.get("STUDIO_WORKSPACE"), e.get("SYSLOG_IDENTIFIER")) == (
        "api", ALICE, workspace, "studiod"), show_entry(e)
    return e


def audit_entries(machine: Machine, event: str, since_us: int) -> list[dict]:
    return [e for e in machine.journal("STUDIO_AUDIT=1", f"STUDIO_EVENT={event}")
            if int(e["__REALTIME_TIMESTAMP"]) >= since_us]


# --- Fixtures ---------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def since_us() -> int:
    return int(time.time() * 1_000_000)


@pytest.fixture(scope="module")
def passwords(machine: Machine, users, since_us) -> dict[str, str]:
    """Passwords for alice and bob, and two more accounts of this file's own: LOCKED and LIMITED."""
    pw = {u: f"{u}-pw-{secrets.token_hex(8)}" for u in (ALICE, BOB, LOCKED, LIMITED)}
    machine.sh(f"for u in {LOCKED} {LIMITED}; do id $u >/dev/null 2>&1 || useradd -m -s /bin/bash $u; done")
    machine.run("chpasswd", input="".join(f"{u}:{p}\n" for u, p in pw.items()))
    yield pw
    machine.sh(f"userdel -r {LOCKED}; userdel -r {LIMITED}", check=False)


@pytest.fixture(scope="module", autouse=True)
def cleanup(machine: Machine):
    """Whatever a failed test left: the workspaces this file makes."""
    yield
    for user, name in [(ALICE, n) for n in (WS, APP_WS, KEEP_WS, BOX_WS, HOST_RESET_WS, "webidle", "csrf-target",
                                            "csrf-host", "csrf-probe")] + [
            (BOB, APP_WS)]:
        machine.studioctl(user, "delete", name)


@pytest.fixture(scope="module")
def alice_web(passwords) -> Browser:
    return logged_in(ALICE, passwords[ALICE])


@pytest.fixture(scope="module")
def bob_web(passwords) -> Browser:
    return logged_in(BOB, passwords[BOB])


@pytest.fixture(scope="module")
def echo_template(machine: Machine):
    """The template `webtest`, with one app, `echo` (ECHO_APP_SOURCE)."""
    machine.write_file(ECHO_APP, ECHO_APP_SOURCE)
    machine.run("chmod", "0644", ECHO_APP)
    machine.write_file(TEMPLATE_FILE, TEMPLATE_TEXT)
    yield TEMPLATE
    machine.run("rm", "-f", TEMPLATE_FILE, ECHO_APP)


@pytest.fixture(scope="module")
def box_template(machine: Machine, built_image):
    """The template `webbox`: Backend=container on the image `built` (conftest's built_image, made with `studioctl
    image build`). Removed afterwards, after alice's workspace of it."""
    machine.write_file(BOX_TEMPLATE_FILE, "[Template]\nBackend=container\nImage=built\n")
    yield BOX_TEMPLATE
    machine.studioctl(ALICE, "delete", BOX_WS)  # while its template is still there
    machine.run("rm", "-f", BOX_TEMPLATE_FILE)


@pytest.fixture(scope="module")
def app_workspace(machine: Machine, alice_web: Browser, echo_template):
    """alice's workspace APP_WS from the template `webtest`, made and started over the API; deleted afterwards."""
    r = alice_web.post("/api/v1/workspaces", {"name": APP_WS, "template": TEMPLATE})
    assert r.status == 201, r
    assert r.json()["template"] == TEMPLATE and r.json()["apps"] == [{"name": APP}], r
    r = alice_web.post(ws_path(APP_WS, "/start"))
    assert r.status == 200 and r.json()["state"] == "running", r
    yield r.json()
    machine.studioctl(ALICE, "delete", APP_WS)  # while its template is still there


@pytest.fixture(scope="module")
def alice_app_cookie(app_workspace, alice_web: Browser) -> str:
    """A studio_app cookie of alice's, for her echo app, once the app answers."""
    _, _, cookie = open_app(alice_web)
    wait_for_app(f"{APP_COOKIE}={cookie}")
    return cookie


# --- Logging in -------------------------------------------------------------------------------------------------------

def test_login_gives_a_session_cookie_scripts_and_other_sites_cannot_use(passwords, users):
    b = Browser()
    r = b.login(ALICE, passwords[ALICE])
    assert r.status == 200, r
    assert "application/json" in (r.header("Content-Type") or ""), r
    body = r.json()
    assert body["user"] == {"name": ALICE, "uid": users[ALICE]}, r
    assert body["idleTimeoutSeconds"] == 8 * 3600, f"[Web] SessionIdleTimeout= defaults to 8h: {r!r}"
    lifetime = parse_time(body["expiresAt"]) - now()
    assert abs(lifetime - datetime.timedelta(days=7)) < datetime.timedelta(minutes=5), (
        f"[Web] SessionLifetime= defaults to 7d; expiresAt is {body['expiresAt']}: {r!r}")

    cookie = r.cookies()[SESSION_COOKIE]
    assert cookie.get("HttpOnly") is True, cookie
    assert str(cookie.get("SameSite")).lower() == "strict", cookie
    assert cookie.get("Path") == "/", cookie
    assert cookie.get("Secure") is None, f"plain http: a Secure cookie would never come back: {cookie}"
    assert cookie.get("Domain") is None, f"the cookie must stay with this host: {cookie}"
    assert len(cookie.value) >= 22, f"a session token should carry at least 128 random bits: {cookie}"

    s = b.get("/api/v1/session")
    assert s.status == 200, s
    assert s.json() == body, f"GET /api/v1/session should describe the same session:\n{s!r}\n{r!r}"


def test_login_through_a_tls_proxy_sets_a_secure_cookie(passwords):
    # tailscale serve or caddy in front: the request comes from loopback with X-Forwarded-Proto: https, and the
    # browser's Origin is the https one.
    b = Browser(origin="https://127.0.0.1:7080")
    r = b.login(ALICE, passwords[ALICE], headers={"X-Forwarded-Proto": "https"})
    assert r.status == 200, r
    cookie = r.cookies()[SESSION_COOKIE]
    assert cookie.get("Secure") is True, cookie
    assert cookie.get("HttpOnly") is True and str(cookie.get("SameSite")).lower() == "strict", cookie


def test_wrong_password_and_unknown_user_get_the_same_answer(passwords):
    wrong = Browser().login(ALICE, WRONG_PASSWORD)
    unknown = Browser().login("nosuchuser", passwords[ALICE])
    for r in (wrong, unknown):
        assert r.status == 401, r
        assert r.json() == WRONG_LOGIN, r
        assert SESSION_COOKIE not in r.cookies(), f"a refused login set a session cookie: {r!r}"


def test_locked_account_cannot_log_in(machine: Machine, passwords):
    assert Browser().login(LOCKED, passwords[LOCKED]).status == 200, "the account's password should work before the lock"
    machine.run("usermod", "-L", LOCKED)
    assert machine.run("passwd", "-S", LOCKED).stdout.split()[1] == "L"
    r = Browser().login(LOCKED, passwords[LOCKED])
    assert r.status == 401, r
    assert r.json() == WRONG_LOGIN, f"a locked account must look like a wrong password: {r!r}"
    assert SESSION_COOKIE not in r.cookies(), r


# The login tests that need no particular address send from addresses of their own (all of 127.0.0.0/8 is this host's
# loopback), so that 127.0.0.1 stays far from the per-address limit whatever the server counts as an attempt.
ASIDE = "127.0.0.4"

MALFORMED_LOGINS = [b"not json", b"[]", b'"alice"', b'{"username": "alice"}', b'{"password": "x"}',
                    b'{"username": 1, "password": "x"}', b'{"username": "alice", "password": null}', b'{"username": ']


@pytest.mark.parametrize("body", MALFORMED_LOGINS, ids=[b.decode() for b in MALFORMED_LOGINS])
def test_login_refuses_a_body_that_is_not_username_and_password(body):
    r = Browser(source=ASIDE).post("/api/v1/login", data=body, headers={"Content-Type": "application/json"},
                                   cookie=None)
    expect_error(r, 400, "bad_request")


@pytest.mark.parametrize("origin", [EVIL, None], ids=["foreign Origin", "no Origin"])
def test_login_needs_the_dashboards_origin(passwords, origin):
    r = Browser(origin=origin, source=ASIDE).login(ALICE, passwords[ALICE])
    expect_error(r, 403, "forbidden")
    assert SESSION_COOKIE not in r.cookies(), r


# --- Every call needs a live session ----------------------------------------------------------------------------------

@pytest.mark.parametrize("cookie", [None, f"{SESSION_COOKIE}=garbage", f"{SESSION_COOKIE}=", "other=1"],
                         ids=["no cookie", "garbage", "empty", "another cookie"])
def test_calls_without_a_session_are_refused(passwords, cookie):
    for path in ("/api/v1/workspaces", "/api/v1/session", "/api/v1/templates", ws_path(WS)):
        expect_error(Browser().get(path, cookie=cookie), 401, "unauthorized")
    expect_error(Browser().post("/api/v1/workspaces", {"name": "nope"}, cookie=cookie), 401, "unauthorized")


def test_a_forged_session_token_is_refused(alice_web: Browser):
    token = alice_web.session
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    expect_error(alice_web.get("/api/v1/workspaces", cookie=f"{SESSION_COOKIE}={forged}"), 401, "unauthorized")
    assert alice_web.get("/api/v1/workspaces").status == 200, "the real token should still work"


# --- CSRF: only the dashboard's own pages may change anything ---------------------------------------------------------

FOREIGN_ORIGINS = [
    EVIL,
    None,  # no Origin at all on a state-changing call
    "null",  # what a sandboxed iframe or a file:// page sends
    APPS,  # the apps origin: an app must not drive the dashboard
    "https://127.0.0.1:7080",  # another scheme: no X-Forwarded-Proto, so the dashboard is http here
    "http://127.0.0.1:7080.evil.example",  # a prefix of the right origin is not the origin
    "http://localhost:7080",  # the request was addressed to 127.0.0.1:7080
]


@pytest.mark.parametrize("origin", FOREIGN_ORIGINS, ids=[str(o) for o in FOREIGN_ORIGINS])
def test_state_changes_need_the_dashboards_origin(alice_web: Browser, origin):
    r = alice_web.post("/api/v1/workspaces", {"name": "csrf-probe"}, origin=origin)
    expect_error(r, 403, "forbidden")
    expect_error(alice_web.get(ws_path("csrf-probe")), 404, "not_found")


def test_a_foreign_origin_changes_nothing_of_an_existing_workspace(machine: Machine, alice_web: Browser):
    r = alice_web.post("/api/v1/workspaces", {"name": "csrf-target"})  # the dashboard's own Origin: allowed
    assert r.status == 201, r
    made = r.json()
    for method, suffix, body in [("PATCH", "", {"limits": {"tasksMax": 100}}), ("POST", "/start", NO_BODY),
                                 ("DELETE", "", NO_BODY)]:
        for origin in (EVIL, None):
            expect_error(alice_web.call(method, ws_path("csrf-target", suffix), body, origin=origin), 403, "forbidden")
    r = alice_web.get(ws_path("csrf-target"))
    assert r.status == 200 and r.json()["state"] == "stopped" and r.json()["limits"] == made["limits"], r
    assert machine.unit(ws_unit(ALICE, "csrf-target")).get("ActiveState") != "active"

    expect_error(alice_web.post("/api/v1/logout", origin=EVIL), 403, "forbidden")
    assert alice_web.get("/api/v1/session").status == 200, "a foreign logout must not end the session"
    assert alice_web.delete(ws_path("csrf-target")).status == 204


def test_the_dashboards_origin_is_the_host_it_was_addressed_as(alice_web: Browser):
    # Reached as localhost:7080, the page's Origin is http://localhost:7080, and 127.0.0.1's is foreign.
    host = {"Host": "localhost:7080"}
    r = alice_web.post("/api/v1/workspaces", {"name": "csrf-host"}, headers=host, origin="http://localhost:7080")
    assert r.status == 201, r
    expect_error(alice_web.delete(ws_path("csrf-host"), headers=host, origin=DASHBOARD), 403, "forbidden")
    assert alice_web.delete(ws_path("csrf-host"), headers=host, origin="http://localhost:7080").status == 204


# --- Workspaces -------------------------------------------------------------------------------------------------------

def test_templates_are_listed(alice_web: Browser, echo_template):
    r = alice_web.get("/api/v1/templates")
    assert r.status == 200, r
    body = r.json()
    assert body["defaultTemplate"] == "default", r
    shown = {t["name"]: {k: t.get(k) for k in ("name", "description", "terminals", "apps")} for t in body["templates"]}
    assert shown.get("default") == {"name": "default", "description": "A shell in the project directory",
                                    "terminals": [], "apps": []}, r
    assert shown.get(TEMPLATE) == {"name": TEMPLATE, "description": TEMPLATE_DESCRIPTION, "terminals": [],
                                   "apps": [{"name": APP}]}, r
    backends = {t["name"]: (t.get("backend"), t.get("image")) for t in body["templates"]}
    assert backends.get("default") == ("host", None) and backends.get(TEMPLATE) == ("host", None), r


def test_workspace_lifecycle(machine: Machine, alice_web: Browser, users):
    """What the dashboard does with a workspace, step by step, each answer checked against the machine."""
    directory = f"/home/{ALICE}/{WS}"
    unit = ws_unit(ALICE, WS)
    assert not machine.exists(directory)
    r = alice_web.get("/api/v1/workspaces")
    assert r.status == 200 and WS not in [w["name"] for w in r.json()["workspaces"]], r

    # Create: stopped, in ~/NAME, made as alice.
    r = alice_web.post("/api/v1/workspaces", {"name": WS})
    assert r.status == 201, r
    created = r.json()
    expected = {"name": WS, "owner": ALICE, "state": "stopped", "projectDirectory": directory, "template": "default",
                "unit": unit, "startedAt": None, "uptimeSeconds": None, "limits": DEFAULT_LIMITS,
                "usage": {"memoryBytes": None, "cpuSeconds": None, "tasks": None, "oomKills": None},
                "terminals": [], "apps": [], "backend": "host", "image": None}
    assert {k: created.get(k) for k in expected} == expected, r
    assert abs(parse_time(created["createdAt"]) - now()) < datetime.timedelta(minutes=2), r
    assert created["idle"] == {"timeoutSeconds": IDLE_TIMEOUT, **IDLE_UNKNOWN}, (
        f"a workspace never started: the timeout in force ([Idle] Timeout= 2h) and nothing else: {r!r}")
    assert machine.run("stat", "-c", "%U:%G %F", directory).stdout.strip() == f"{ALICE}:{ALICE} directory"
    assert machine.unit(unit).get("ActiveState") != "active", "create must not start it"

    expect_error(alice_web.post("/api/v1/workspaces", {"name": WS}), 409, "conflict")

    # Listed and shown as created.
    listed = [w for w in alice_web.get("/api/v1/workspaces").json()["workspaces"] if w["name"] == WS]
    assert listed == [created], listed
    r = alice_web.get(ws_path(WS))
    assert r.status == 200 and r.json() == created, r

    # Start: running, with systemd's figures; an activity record from studiod.
    started_us = int(time.time() * 1_000_000)
    r = alice_web.post(ws_path(WS, "/start"))
    assert r.status == 200, r
    started = r.json()
    assert started["state"] == "running", r
    assert machine.unit(unit)["ActiveState"] == "active"
    assert abs(parse_time(started["startedAt"]) - now()) < datetime.timedelta(minutes=2), r
    assert is_number(started["uptimeSeconds"]) and 0 <= started["uptimeSeconds"] < 120, r
    usage_agrees_with_systemd(machine, alice_web.get(ws_path(WS)).json())
    assert set(started["idle"]) == IDLE_KEYS and started["idle"]["timeoutSeconds"] == IDLE_TIMEOUT, r
    assert (started["idle"]["keepUntil"], started["idle"]["stoppedForIdleAt"]) == (None, None), r
    expect_api_activity(machine, WS, started_us, "POST …/start")
    pid = machine.unit(unit)["MainPID"]

    # Limits: applied to the running unit at once, without a restart.
    r = alice_web.patch(ws_path(WS), {"limits": {"memoryMaxBytes": GiB, "cpus": 0.5, "tasksMax": 1000}})
    assert r.status == 200, r
    assert r.json()["limits"] == {"memoryMaxBytes": GiB, "cpus": 0.5, "tasksMax": 1000}, r
    u = machine.unit(unit)
    assert (u["MemoryMax"], u["TasksMax"], timespan_us(u["CPUQuotaPerSecUSec"])) == (str(GiB), "1000", 0.5e6), u
    assert u["MainPID"] == pid, "changing limits must not restart the workspace"
    for bad in ({"memoryMaxBytes": 1024}, {"cpus": 0}, {"cpus": 2000}, {"tasksMax": 15}, {"tasksMax": 5_000_000}):
        expect_error(alice_web.patch(ws_path(WS), {"limits": bad}), 400, "bad_request")
    assert alice_web.get(ws_path(WS)).json()["limits"] == {"memoryMaxBytes": GiB, "cpus": 0.5, "tasksMax": 1000}
    assert machine.unit(unit)["MemoryMax"] == str(GiB), "a refused change must leave the unit as it was"

    # The idle timeout: the workspace's own, alone or with limits; 0 is never; out of range or nothing is a 400.
    r = alice_web.patch(ws_path(WS), {"idleTimeoutSeconds": 5400})
    assert r.status == 200, r
    assert (r.json()["idle"]["timeoutSeconds"], r.json()["limits"]) == (5400, {"memoryMaxBytes": GiB, "cpus": 0.5,
                                                                            "tasksMax": 1000}), r
    assert alice_web.get(ws_path(WS)).json()["idle"]["timeoutSeconds"] == 5400
    r = alice_web.patch(ws_path(WS), {"limits": {"tasksMax": 999}, "idleTimeoutSeconds": 0})
    assert r.status == 200, r
    assert (r.json()["idle"]["timeoutSeconds"], r.json()["idle"]["stopsAt"], r.json()["limits"]["tasksMax"]) == (
        0, None, 999), f"0: never stopped for idleness, so no stopsAt: {r!r}"
    assert machine.unit(unit)["TasksMax"] == "999"
    for bad in ({"idleTimeoutSeconds": 5}, {"idleTimeoutSeconds": 59}, {"idleTimeoutSeconds": -1},
                {"idleTimeoutSeconds": 365 * 86400 + 1}, {"idleTimeoutSeconds": "2h"}, {}, {"limits": {}}, {"idleTimeoutSeconds": None}):
        r = alice_web.patch(ws_path(WS), bad)
        expect_error(r, 400, "bad_request")
        if bad in ({}, {"limits": {}}):
            assert "idleTimeoutSeconds" in r.error_message and "limits" in r.error_message, (
                f"the message should say what may be changed: {r!r}")
    assert alice_web.get(ws_path(WS)).json()["idle"]["timeoutSeconds"] == 0, "a refused change must change nothing"

    # Restart: a new process, the same limits.
    r = alice_web.post(ws_path(WS, "/restart"))
    assert r.status == 200 and r.json()["state"] == "running", r
    assert machine.unit(unit)["MainPID"] not in ("0", pid), "restart should have started a new agent"
    assert r.json()["limits"]["memoryMaxBytes"] == GiB, r

    # Stop: stopped, no figures.
    r = alice_web.post(ws_path(WS, "/stop"))
    assert r.status == 200, r
    stopped = r.json()
    assert (stopped["state"], stopped["startedAt"], stopped["uptimeSeconds"]) == ("stopped", None, None), r
    assert stopped["usage"] == {"memoryBytes": None, "cpuSeconds": None, "tasks": None, "oomKills": None}, r
    assert machine.unit(unit).get("ActiveState") != "active"

    # Delete: gone from the API, the project directory kept.
    r = alice_web.delete(ws_path(WS))
    assert r.status == 204 and r.body == b"", r
    expect_error(alice_web.get(ws_path(WS)), 404, "not_found")
    expect_error(alice_web.delete(ws_path(WS)), 404, "not_found")
    assert WS not in [w["name"] for w in alice_web.get("/api/v1/workspaces").json()["workspaces"]]
    assert machine.exists(directory), "delete must keep the project directory"


BAD_CREATES = [  # (request body, why it is refused)
    ({"name": "Bad_Name"}, "upper case and _"),
    ({"name": "-x"}, "a leading dash"),
    ({"name": "a" * 64}, "64 characters"),
    ({"name": "../etc"}, "a path"),
    ({}, "no name"),
    ({"name": 7}, "a number for a name"),
    ({"name": "bad-tpl", "template": "no-such-template"}, "an unknown template"),
    ({"name": "bad-mem", "limits": {"memoryMaxBytes": 1024}}, "memory under 16M"),
    ({"name": "bad-mem2", "limits": {"memoryMaxBytes": 2**50 + 1}}, "memory over 1P"),
    ({"name": "bad-cpu", "limits": {"cpus": 0}}, "no CPU"),
    ({"name": "bad-cpu2", "limits": {"cpus": 1025}}, "over 1024 CPUs"),
    ({"name": "bad-tasks", "limits": {"tasksMax": 15}}, "under 16 tasks"),
    ({"name": "bad-tasks2", "limits": {"tasksMax": 4194305}}, "over 4194304 tasks"),
    ({"name": "bad-lim", "limits": "lots"}, "limits not an object"),
]


@pytest.mark.parametrize("body,why", BAD_CREATES, ids=[why for _, why in BAD_CREATES])
def test_create_refuses_bad_input_and_makes_nothing(machine: Machine, alice_web: Browser, body, why):
    before = [w["name"] for w in alice_web.get("/api/v1/workspaces").json()["workspaces"]]
    expect_error(alice_web.post("/api/v1/workspaces", body), 400, "bad_request")
    assert [w["name"] for w in alice_web.get("/api/v1/workspaces").json()["workspaces"]] == before
    name = body.get("name")
    if isinstance(name, str) and re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", name):
        assert not machine.exists(f"/home/{ALICE}/{name}"), f"a refused create made /home/{ALICE}/{name}"


@pytest.mark.parametrize("data", [b'{"name": ', b"[1, 2]", b"\xff\xfe", b""],
                         ids=["cut off", "an array", "not UTF-8", "empty"])
def test_malformed_json_is_a_bad_request(alice_web: Browser, data):
    r = alice_web.post("/api/v1/workspaces", data=data, headers={"Content-Type": "application/json"})
    expect_error(r, 400, "bad_request")


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v1/workspaces/x/nope", "/api/v1/workspaces/x/start/y"])
def test_unknown_paths_are_json_404s(alice_web: Browser, path):
    expect_error(alice_web.get(path), 404, "not_found")


def test_logs_of_a_workspace(alice_web: Browser, app_workspace):
    r = alice_web.get(ws_path(APP_WS, "/logs?lines=5"))
    assert r.status == 200, r
    lines = r.json()["lines"]
    assert 1 <= len(lines) <= 5, f"lines=5 after a start (systemd's 'Started …' at least): {r!r}"
    for line in lines:
        assert {"time", "priority", "identifier", "message"} <= set(line), line
        parse_time(line["time"])
        assert isinstance(line["priority"], int) and 0 <= line["priority"] <= 7, line
        assert isinstance(line["identifier"], str) and isinstance(line["message"], str), line
    expect_error(alice_web.get(ws_path(APP_WS, "/logs?lines=10001")), 400, "bad_request")

    answer, events = read_event_stream(DASHBOARD + ws_path(APP_WS, "/logs?lines=1&follow=1"),
                                       headers={"Cookie": f"{SESSION_COOKIE}={alice_web.session}"})
    assert answer.status == 200 and (answer.header("Content-Type") or "").startswith("text/event-stream"), answer
    assert len(events) == 1, f"follow=1 should send the last entry at once: {answer!r} {events}"
    entry = json.loads(events[0])
    assert {"time", "priority", "identifier", "message"} <= set(entry), entry


# --- Idleness: keep and activity records ------------------------------------------------------------------------------

def test_keep_and_what_writes_activity_records(machine: Machine, alice_web: Browser, bob_web: Browser, since_us):
    """Keep holds a running workspace up; an API action on a workspace is an activity record from studiod, a GET
    never is (a forgotten dashboard tab polling the list must not keep a workspace up)."""
    r = alice_web.post("/api/v1/workspaces", {"name": KEEP_WS})
    assert r.status == 201, r
    try:
        # Not running: no keep.
        expect_error(alice_web.post(ws_path(KEEP_WS, "/keep"), {"seconds": 3600}), 409, "conflict")
        p = machine.studioctl(ALICE, "start", KEEP_WS)  # not through studiod: it writes no record
        assert p.returncode == 0, explain(p)
        gets_us = int(time.time() * 1_000_000)
        for path in ("/api/v1/workspaces", ws_path(KEEP_WS), ws_path(KEEP_WS, "/logs?lines=3"),
                     ws_path(KEEP_WS, "/terminals"), "/api/v1/templates", "/api/v1/session"):
            for _ in range(3):
                assert alice_web.get(path).status == 200, path
        time.sleep(2)
        assert studiod_activity(machine, KEEP_WS, since_us) == [], (
            "GETs (and create, and studioctl start) must write no activity record from studiod:\n"
            + "\n".join(map(show_entry, studiod_activity(machine, KEEP_WS, since_us))))

        # Keep for 3 h (longer than the 2 h timeout, so the keep is what holds it): keepUntil is now + 10800,
        # rounded up to the second.
        before = time.time()
        r = alice_web.post(ws_path(KEEP_WS, "/keep"), {"seconds": 10800})
        after = time.time()
        assert r.status == 200, r
        view = r.json()
        assert (view["name"], view["state"]) == (KEEP_WS, "running"), r
        kept = parse_time(view["idle"]["keepUntil"]).timestamp()
        assert int(before) + 10800 <= kept <= after + 10801, f"keepUntil should be now + 10800 s: {r!r}"
        assert set(view["idle"]) == IDLE_KEYS and view["idle"]["timeoutSeconds"] == IDLE_TIMEOUT, r
        if view["idle"]["keptBy"] is not None:  # studio-idled has looked: the keep is what holds it now
            assert (view["idle"]["keptBy"], view["idle"]["stopsAt"]) == ("keep", view["idle"]["keepUntil"]), r
        expect_api_activity(machine, KEEP_WS, gets_us, "POST …/keep")

        # Out of range, or not a number of seconds: 400, and the keep stays.
        for bad in ({"seconds": -1}, {"seconds": 30 * 86400 + 1}, {"seconds": "1h"}, {}, {"seconds": None}):
            expect_error(alice_web.post(ws_path(KEEP_WS, "/keep"), bad), 400, "bad_request")
        expect_error(alice_web.post(ws_path(KEEP_WS, "/keep"), data=b"[]",
                                    headers={"Content-Type": "application/json"}), 400, "bad_request")

        # Nobody's and bob's: the same 404; bob's keep changes nothing of alice's.
        expect_error(alice_web.post(ws_path(NOBODYS, "/keep"), {"seconds": 60}), 404, "not_found")
        theirs = bob_web.post(ws_path(KEEP_WS, "/keep"), {"seconds": 60})
        nobodys = bob_web.post(ws_path(NOBODYS, "/keep"), {"seconds": 60})
        expect_error(theirs, 404, "not_found")
        assert theirs.error_message.replace(KEEP_WS, "NAME") == nobodys.error_message.replace(NOBODYS, "NAME"), (
            f"bob can tell alice's workspace from a name nobody has:\n{theirs!r}\n{nobodys!r}")

        # 0 ends the keep.
        r = alice_web.post(ws_path(KEEP_WS, "/keep"), {"seconds": 0})
        assert r.status == 200 and r.json()["idle"]["keepUntil"] is None, r
        if r.json()["idle"]["keptBy"] is not None:
            assert r.json()["idle"]["keptBy"] != "keep", r

        # Stopped: 409 again.
        assert alice_web.post(ws_path(KEEP_WS, "/stop")).status == 200
        expect_error(alice_web.post(ws_path(KEEP_WS, "/keep"), {"seconds": 60}), 409, "conflict")
        r = alice_web.get(ws_path(KEEP_WS))
        assert r.json()["idle"] == {"timeoutSeconds": IDLE_TIMEOUT, **IDLE_UNKNOWN}, (
            f"stopped by hand: no keep, no idle stop: {r!r}")
    finally:
        machine.studioctl(ALICE, "delete", KEEP_WS)


def test_terminals_and_app_tickets_write_activity_records(machine: Machine, alice_web: Browser, app_workspace):
    """Opening a terminal and asking for an app ticket are a person's acts (what is then typed, the agent records)."""
    time.sleep(31)  # past the throttle of whatever came before (the fixture's start, other tests' terminals)
    mark = int(time.time() * 1_000_000)
    answer, ws = alice_web.terminal(APP_WS, "main")
    assert ws is not None and answer.status == 101, answer
    ws.close()
    expect_api_activity(machine, APP_WS, mark, "opening a terminal")
    time.sleep(31)
    mark = int(time.time() * 1_000_000)
    assert alice_web.post(ws_path(APP_WS, f"/apps/{APP}/ticket")).status == 200
    expect_api_activity(machine, APP_WS, mark, "an app ticket")


# --- Container workspaces --------------------------------------------------------------------------------------------

def terminal_says(ws: WebSocket, command: bytes, pattern: str, timeout: float = 15) -> re.Match:
    """Types COMMAND (and Enter) at the prompt and waits for PATTERN in what comes after."""
    mark = len(ws.output)
    ws.send_binary(command + b"\r")
    return ws.read_until(pattern, timeout, since=mark)


def test_templates_and_images_say_which_are_containers(alice_web: Browser, box_template, built_image):
    r = alice_web.get("/api/v1/templates")
    assert r.status == 200, r
    box = [t for t in r.json()["templates"] if t["name"] == BOX_TEMPLATE]
    assert len(box) == 1 and (box[0]["backend"], box[0]["image"]) == ("container", "built"), r

    r = alice_web.get("/api/v1/images")
    assert r.status == 200 and "application/json" in (r.header("Content-Type") or ""), r
    images = {i["name"]: i for i in r.json()["images"]}
    assert "built" in images, f"the image built by studioctl image build should be listed: {r!r}"
    built = images["built"]
    assert set(built) == {"name", "path", "os", "usable", "problem", "templates", "modifiedAt"}, built
    assert (built["path"], built["usable"], built["problem"]) == (built_image["path"], True, None), built
    assert isinstance(built["os"], str) and "Debian" in built["os"], built
    assert BOX_TEMPLATE in built["templates"], built
    assert abs(parse_time(built["modifiedAt"]) - now()) < datetime.timedelta(days=1), built
    expect_error(Browser().get("/api/v1/images"), 401, "unauthorized")


def test_a_container_workspace_over_the_api(machine: Machine, alice_web: Browser, bob_web: Browser, users, box_template,
                                            since_us):
    """alice's container workspace through the dashboard's calls: made and started, a root terminal inside, then
    reset (refused while it runs; the layer, then the home too), audited as alice; bob gets the 404 of a name nobody
    has."""
    data = f"{WORKSPACE_DATA}/{users[ALICE]}-{BOX_WS}"
    r = alice_web.post("/api/v1/workspaces", {"name": BOX_WS, "template": BOX_TEMPLATE})
    assert r.status == 201, r
    created = r.json()
    assert (created["template"], created["backend"], created["image"], created["state"]) == (
        BOX_TEMPLATE, "container", "built", "stopped"), r
    assert not {"uidBase", "agentPID", "definition"} & set(created), f"the uid range and pid are not the API's: {r!r}"

    r = alice_web.post(ws_path(BOX_WS, "/start"))
    assert r.status == 200 and r.json()["state"] == "running", r
    assert (r.json()["backend"], r.json()["image"]) == ("container", "built"), r
    listed = [w for w in alice_web.get("/api/v1/workspaces").json()["workspaces"] if w["name"] == BOX_WS]
    assert [(w["backend"], w["image"]) for w in listed] == [("container", "built")], listed

    # root=1: root inside; without it, alice. Each leaves a mark: root's in the layer, alice's in her home inside.
    answer, ws = alice_web.terminal(BOX_WS, "root", query="cols=80&rows=24&root=1")
    assert ws is not None and answer.status == 101, answer
    with ws:
        ws.read_until(r"[$#] ", 30)
        terminal_says(ws, b"echo uid=$(id -u)", r"uid=0\r?\n")
        terminal_says(ws, b"echo kept > /etc/webbox-marker && echo marked", r"marked\r?\n")
    answer, ws = alice_web.terminal(BOX_WS, "main")
    assert ws is not None and answer.status == 101, answer
    with ws:
        ws.read_until(r"[$#] ", 30)
        terminal_says(ws, b"echo uid=$(id -u)", rf"uid={users[ALICE]}\r?\n")
        terminal_says(ws, b"echo mine > ~/webbox-home-marker && echo marked", r"marked\r?\n")
    r = alice_web.get(ws_path(BOX_WS, "/terminals"))
    assert r.status == 200, r
    roots = {t["name"]: t["root"] for t in r.json()["terminals"]}
    assert roots == {"root": True, "main": False}, r
    # A terminal keeps the identity it was made with: the agent refuses, after the upgrade, with an error message.
    answer, ws = alice_web.terminal(BOX_WS, "main", query="cols=80&rows=24&root=1")
    assert ws is not None and answer.status == 101, answer

    def refused() -> bool:
        return any(json.loads(t).get("type") == "error" for t in ws.texts)

    with ws:
        deadline = time.monotonic() + 15
        while not refused() and not ws.closed and time.monotonic() < deadline:
            try:
                ws.receive(1)
            except WebSocketClosed:
                break
    assert refused(), f"root=1 on alice's own terminal main should be refused with an error message: {ws.texts}"

    # Running: reset is refused, and nothing is dropped.
    mark_us = int(time.time() * 1_000_000)
    r = alice_web.post(ws_path(BOX_WS, "/reset"))
    assert r.status == 409 and r.json() == {"error": {"code": "conflict", "message":
            f'workspace "{BOX_WS}" is running; stop it first (`studioctl stop {BOX_WS}`), then reset it'}}, r
    assert machine.exists(f"{data}/upper/etc/webbox-marker"), "a refused reset dropped the layer"

    r = alice_web.post(ws_path(BOX_WS, "/stop"))
    assert r.status == 200 and r.json()["state"] == "stopped", r
    assert machine.exists(f"{data}/upper/etc/webbox-marker") and machine.exists(f"{data}/home/webbox-home-marker")

    # Bad bodies: 400, nothing dropped. bob: the 404 of a name nobody has.
    for bad in ({"home": "yes"}, {"home": 1}, [True], "home"):
        expect_error(alice_web.post(ws_path(BOX_WS, "/reset"), bad), 400, "bad_request")
    for body in (NO_BODY, {"home": True}):
        theirs = bob_web.post(ws_path(BOX_WS, "/reset"), body)
        nobodys = bob_web.post(ws_path(NOBODYS, "/reset"), body)
        expect_error(theirs, 404, "not_found")
        assert theirs.error_message.replace(BOX_WS, "NAME") == nobodys.error_message.replace(NOBODYS, "NAME"), (
            f"bob can tell alice's workspace from a name nobody has:\n{theirs!r}\n{nobodys!r}")
    expect_error(alice_web.post(ws_path(NOBODYS, "/reset")), 404, "not_found")
    assert machine.exists(f"{data}/upper/etc/webbox-marker"), "a refused reset dropped the layer"

    # A foreign Origin: 403, nothing dropped.
    expect_error(alice_web.post(ws_path(BOX_WS, "/reset"), origin=EVIL), 403, "forbidden")
    expect_error(alice_web.post(ws_path(BOX_WS, "/reset"), origin=None), 403, "forbidden")
    assert machine.exists(f"{data}/upper/etc/webbox-marker"), "a reset with a foreign Origin dropped the layer"

    # Reset without a body: the layer goes, the home and the project stay.
    r = alice_web.post(ws_path(BOX_WS, "/reset"))
    assert r.status == 200, r
    assert (r.json()["name"], r.json()["state"], r.json()["backend"], r.json()["image"]) == (
        BOX_WS, "stopped", "container", "built"), r
    assert not machine.exists(f"{data}/upper/etc/webbox-marker"), "reset should drop what root changed"
    assert machine.exists(f"{data}/home/webbox-home-marker"), "reset without home must keep the home"
    assert machine.exists(f"/home/{ALICE}/{BOX_WS}"), "reset never touches the project directory"

    # With {"home": true}: the home too.
    r = alice_web.post(ws_path(BOX_WS, "/reset"), {"home": True})
    assert r.status == 200 and r.json()["state"] == "stopped", r
    assert not machine.exists(f"{data}/home/webbox-home-marker"), "reset with home should drop the home"
    assert machine.exists(f"/home/{ALICE}/{BOX_WS}"), "reset never touches the project directory"

    # Audited: by alice (the session's grant acts as its user), the refusal as a failure.
    def resets():
        found = [e for e in audit_entries(machine, "workspace-reset", mark_us)
                 if e.get("STUDIO_USER") == ALICE and e.get("STUDIO_WORKSPACE") == BOX_WS]
        return found if len([e for e in found if e.get("STUDIO_RESULT") == "success"]) >= 2 else None

    try:
        found = poll(resets, 10, f"two workspace-reset audit entries (success) for {ALICE}/{BOX_WS}")
    except AssertionError as e:
        shown = audit_entries(machine, "workspace-reset", mark_us)
        raise AssertionError(f"{e}\n" + "\n".join(map(show_entry, shown))) from None
    for e in found:
        assert e.get("STUDIO_CALLER_UID") == str(users[ALICE]), show_entry(e)
        assert e.get("STUDIO_REMOTE_ADDR") == "127.0.0.1", show_entry(e)
    assert [e.get("STUDIO_RESULT") for e in found] == ["failure", "success", "success"], "\n".join(map(show_entry, found))
    assert [e.get("STUDIO_REASON", "").split(";")[0] for e in found[1:]] == ["layer", "layer and home"], (
        "\n".join(map(show_entry, found)))

    r = alice_web.delete(ws_path(BOX_WS))
    assert r.status == 204, r
    assert not machine.exists(data), "delete should remove the container workspace's own files"


def test_reset_of_a_host_workspace_is_a_bad_request(alice_web: Browser):
    r = alice_web.post("/api/v1/workspaces", {"name": HOST_RESET_WS})
    assert r.status == 201 and r.json()["backend"] == "host", r
    try:
        r = alice_web.post(ws_path(HOST_RESET_WS, "/reset"), {"home": True})
        expect_error(r, 400, "bad_request")
        assert "runs on the host" in r.error_message, r
    finally:
        assert alice_web.delete(ws_path(HOST_RESET_WS)).status == 204


# --- Another user -----------------------------------------------------------------------------------------------------

BOB_PROBES = [  # (method, path after /api/v1/workspaces/NAME, body)
    ("GET", "", NO_BODY), ("POST", "/start", NO_BODY), ("POST", "/stop", NO_BODY), ("POST", "/restart", NO_BODY),
    ("PATCH", "", {"limits": {"tasksMax": 100}}), ("PATCH", "", {"idleTimeoutSeconds": 600}),
    ("POST", "/keep", {"seconds": 60}), ("DELETE", "", NO_BODY), ("GET", "/logs", NO_BODY),
    ("GET", "/terminals", NO_BODY), ("POST", f"/apps/{APP}/ticket", NO_BODY), ("POST", "/reset", NO_BODY),
    ("POST", "/reset", {"home": True}),
]


def test_bob_cannot_see_or_touch_alices_workspace(machine: Machine, bob_web: Browser, app_workspace):
    unit = ws_unit(ALICE, APP_WS)
    before = machine.unit(unit)
    assert before["ActiveState"] == "active"
    for method, suffix, body in BOB_PROBES:
        theirs = bob_web.call(method, ws_path(APP_WS, suffix), body)
        nobodys = bob_web.call(method, ws_path(NOBODYS, suffix), body)
        expect_error(theirs, 404, "not_found")
        # Not even the wording tells bob that alice has a workspace of that name.
        assert (theirs.status, theirs.error_code, theirs.error_message.replace(APP_WS, "NAME")) == (
            nobodys.status, nobodys.error_code, nobodys.error_message.replace(NOBODYS, "NAME")), (
            f"{method} {suffix}: bob can tell alice's workspace from a name nobody has:\n{theirs!r}\n{nobodys!r}")
    answer, ws = bob_web.terminal(APP_WS, "main")
    assert ws is None, "bob got a WebSocket to alice's terminal"
    expect_error(answer, 404, "not_found")

    after = machine.unit(unit)
    assert (after["ActiveState"], after["MainPID"]) == ("active", before["MainPID"]), "alice's workspace was touched"
    r = bob_web.get("/api/v1/workspaces")
    assert r.status == 200, r
    assert all(w["owner"] == BOB for w in r.json()["workspaces"]), f"bob sees others' workspaces: {r!r}"
    assert APP_WS not in [w["name"] for w in r.json()["workspaces"]], r


def test_names_are_per_user(machine: Machine, alice_web: Browser, bob_web: Browser, app_workspace):
    r = bob_web.post("/api/v1/workspaces", {"name": APP_WS})
    assert r.status == 201, f"bob may have a workspace of the same name as alice's: {r!r}"
    assert (r.json()["owner"], r.json()["projectDirectory"]) == (BOB, f"/home/{BOB}/{APP_WS}"), r
    assert bob_web.delete(ws_path(APP_WS)).status == 204
    r = alice_web.get(ws_path(APP_WS))
    assert r.status == 200 and r.json()["state"] == "running", f"bob's delete reached alice's workspace: {r!r}"


# --- Terminals --------------------------------------------------------------------------------------------------------

def test_terminal_runs_what_is_typed_and_replays_it_on_reconnect(alice_web: Browser, app_workspace):
    answer, ws = alice_web.terminal(APP_WS, "main")
    assert ws is not None and answer.status == 101, answer
    with ws:
        ws.read_until(r"[$#] ", 15)  # the login shell's prompt
        ws.send_binary(b"echo studio-$((6*7))\r")
        ws.read_until(r"studio-42", 10)  # the shell's answer (what was typed reads studio-$((6*7)))

    answer, ws = alice_web.terminal(APP_WS, "main")
    assert ws is not None and answer.status == 101, answer
    with ws:
        ws.read_until(r"studio-42", 10)  # the scrollback, sent on connect


def test_terminal_follows_a_resize(alice_web: Browser, app_workspace):
    answer, ws = alice_web.terminal(APP_WS, "main")
    assert ws is not None and answer.status == 101, answer
    with ws:
        ws.read_until(r"[$#] ", 15)
        ws.send_json({"type": "resize", "cols": 100, "rows": 30})
        mark = len(ws.output)
        ws.send_binary(b"stty size\r")
        ws.read_until(r"30 100", 10, since=mark)
        assert not any(json.loads(t).get("type") == "error" for t in ws.texts), ws.texts

        # The agent's view: this one client (the earlier connections are gone), at the new size.
        seen: list[Response] = []

        def main_terminal():
            r = alice_web.get(ws_path(APP_WS, "/terminals"))
            seen.append(r)
            main = [t for t in r.json().get("terminals", []) if t.get("name") == "main"] if r.status == 200 else []
            return main[0] if main and (main[0]["cols"], main[0]["rows"], main[0]["clients"]) == (100, 30, 1) else None

        try:
            main = poll(main_terminal, 5, "GET …/terminals to show main at 100x30 with one client")
        except AssertionError as e:
            raise AssertionError(f"{e}\nlast answer: {seen[-1]!r}") from None
        assert isinstance(main["command"], str) and main["command"], main


def test_terminal_upgrades_are_refused_without_session_origin_or_workspace(alice_web: Browser, app_workspace):
    cookie = f"{SESSION_COOKIE}={alice_web.session}"
    cases = [  # (what, workspace, cookie, origin, status, code)
        ("a foreign Origin", APP_WS, cookie, EVIL, 403, "forbidden"),
        ("the apps origin", APP_WS, cookie, APPS, 403, "forbidden"),
        ("no cookie", APP_WS, None, DASHBOARD, 401, "unauthorized"),
        ("a garbage cookie", APP_WS, f"{SESSION_COOKIE}=garbage", DASHBOARD, 401, "unauthorized"),
        ("no such workspace", NOBODYS, cookie, DASHBOARD, 404, "not_found"),
    ]
    for what, workspace, c, origin, status, code in cases:
        answer, ws = alice_web.terminal(workspace, "main", cookie=c, origin=origin)
        assert ws is None, f"{what}: the upgrade went through"
        try:
            expect_error(answer, status, code)
        except AssertionError as e:
            raise AssertionError(f"{what}: {e}") from None

    r = alice_web.post("/api/v1/workspaces", {"name": "webidle"})
    assert r.status == 201, r
    try:
        answer, ws = alice_web.terminal("webidle", "main")
        assert ws is None, "a terminal of a stopped workspace"
        expect_error(answer, 409, "conflict")
        expect_error(alice_web.get(ws_path("webidle", "/terminals")), 409, "conflict")
    finally:
        assert alice_web.delete(ws_path("webidle")).status == 204


# --- Apps -------------------------------------------------------------------------------------------------------------

def test_app_ticket_opens_the_app_once_and_the_app_never_sees_studios_cookies(alice_web: Browser, app_workspace, users):
    r = alice_web.post(ws_path(APP_WS, f"/apps/{APP}/ticket"))
    assert r.status == 200, r
    url = r.json()["url"]
    prefix = f"{APPS}{app_path()}?ticket="
    assert url.startswith(prefix) and len(url) > len(prefix), f"the ticket URL should be {prefix}…: {url}"

    opened = request("GET", url)
    assert opened.status in (302, 303), opened
    assert urllib.parse.urljoin(url, opened.header("Location") or "") == APPS + app_path(), (
        f"should redirect to the app's path without the ticket: {opened!r}")
    cookie = opened.cookies().get(APP_COOKIE)
    assert cookie is not None and cookie.value, opened
    assert cookie.get("Path") == app_path(), cookie
    assert cookie.get("HttpOnly") is True, cookie
    assert str(cookie.get("SameSite")).lower() == "lax", cookie
    assert cookie.get("Secure") is None and cookie.get("Domain") is None, cookie

    again = request("GET", url)
    assert again.status == 401, f"a ticket works once: {again!r}"
    assert APP_COOKIE not in again.cookies(), again

    wait_for_app(f"{APP_COOKIE}={cookie.value}")
    sent = f"{APP_COOKIE}={cookie.value}; {SESSION_COOKIE}={alice_web.session}; theme=dark"
    r = app_get(app_path() + "sub/page?x=1", sent)
    assert r.status == 200, r
    seen = r.json()
    assert seen["app"] == APP, r
    assert seen["path"].endswith("/sub/page?x=1"), f"the app should get the rest of the path and the query: {seen}"
    assert cookie_pairs(seen["cookie"]) == {"theme": "dark"}, (
        f"the app must see its own cookies but neither {SESSION_COOKIE} nor {APP_COOKIE}: {seen['cookie']!r}")
    assert seen["uid"] == users[ALICE], f"the app runs as its workspace's owner: {seen}"
    # HTTP/1.1 requires Host, and apps such as code-server and nginx refuse a request without one (400).
    assert seen["host"] == [APPS.split("://", 1)[1]], f"the app should get the apps origin's Host, once: {seen}"


def test_app_websocket_goes_through_with_the_app_cookie(alice_web: Browser, app_workspace):
    """Apps such as code-server and Jupyter live on WebSockets: they pass the proxy like HTTP does, cookie-checked,
    Studio's cookies stripped."""
    _, _, cookie = open_app(alice_web)
    wait_for_app(f"{APP_COOKIE}={cookie}")
    url = APPS.replace("http://", "ws://") + app_path() + "socket?x=1"
    answer, ws = WebSocket.open(url, cookie=f"{APP_COOKIE}={cookie}; {SESSION_COOKIE}={alice_web.session}; theme=dark",
                                origin=APPS)
    assert ws is not None, f"the app's WebSocket was refused: {answer!r}"
    try:
        first = ws.receive(10)
        assert first is not None and first[0] == 1, f"no greeting from the app: {first!r}"
        seen = json.loads(first[1])
        assert seen["path"].endswith("/socket?x=1"), seen
        assert cookie_pairs(seen["cookie"]) == {"theme": "dark"}, f"the app saw Studio's cookies: {seen}"
        ws.send_text("ping-42")
        echoed = ws.receive(10)
        assert echoed == (1, b"echo:ping-42"), f"the app's echo did not come back: {echoed!r}"
    finally:
        ws.close()
    refused, none = WebSocket.open(url, cookie=f"{SESSION_COOKIE}={alice_web.session}", origin=APPS)
    assert none is None and refused.status == 401, f"a session cookie must not open an app's WebSocket: {refused!r}"


@pytest.mark.parametrize("path", [
    app_path(app="other"),
    app_path(app=f"{APP}-evil"),
    app_path(workspace=NOBODYS),
    app_path(owner=BOB),
    app_path(owner="root"),
], ids=["another app", "a longer app name", "another workspace", "bob's", "root's"])
def test_app_cookie_opens_only_its_own_app(alice_app_cookie: str, path):
    r = app_get(path, f"{APP_COOKIE}={alice_app_cookie}")
    assert r.status == 401, f"alice's app cookie for {app_path()} opened {path}: {r!r}"


def test_app_needs_an_app_cookie(alice_web: Browser, alice_app_cookie: str):
    assert app_get(app_path(), f"{APP_COOKIE}={alice_app_cookie}").status == 200  # the path works with the cookie
    for what, cookie in [("no cookie", None), ("the session cookie", f"{SESSION_COOKIE}={alice_web.session}"),
                         ("a garbage app cookie", f"{APP_COOKIE}=garbage"),
                         ("the session token as an app cookie", f"{APP_COOKIE}={alice_web.session}")]:
        r = app_get(app_path(), cookie)
        assert r.status == 401, f"{what} opened the app: {r!r}"


def test_bob_gets_no_ticket_for_alices_app(bob_web: Browser, alice_web: Browser, app_workspace):
    expect_error(bob_web.post(ws_path(APP_WS, f"/apps/{APP}/ticket")), 404, "not_found")
    expect_error(alice_web.post(ws_path(APP_WS, "/apps/nope/ticket")), 404, "not_found")


# --- Logging out ------------------------------------------------------------------------------------------------------

def test_logout_ends_the_session_everywhere(passwords, alice_web: Browser, app_workspace, alice_app_cookie):
    b = logged_in(ALICE, passwords[ALICE])
    _, _, app_cookie = open_app(b)
    assert app_get(app_path(), f"{APP_COOKIE}={app_cookie}").status == 200

    r = b.post("/api/v1/logout")
    assert r.status == 204 and r.body == b"", r

    expect_error(b.get("/api/v1/workspaces"), 401, "unauthorized")
    expect_error(b.get("/api/v1/session"), 401, "unauthorized")
    expect_error(b.post(ws_path(APP_WS, f"/apps/{APP}/ticket")), 401, "unauthorized")
    answer, ws = b.terminal(APP_WS, "main")
    assert ws is None, "a logged-out cookie opened a terminal"
    expect_error(answer, 401, "unauthorized")
    r = app_get(app_path(), f"{APP_COOKIE}={app_cookie}")
    assert r.status == 401, f"the app cookie should end with the session that made it: {r!r}"
    expect_error(b.post("/api/v1/logout"), 401, "unauthorized")

    # Only that session: alice's other one, and its app cookie, still work.
    assert alice_web.get("/api/v1/session").status == 200
    assert app_get(app_path(), f"{APP_COOKIE}={alice_app_cookie}").status == 200


def test_logins_and_logouts_are_audited(machine: Machine, since_us):
    def entries():
        logins = audit_entries(machine, "login", since_us)
        logouts = audit_entries(machine, "logout", since_us)
        ok = [e for e in logins if e.get("STUDIO_USER") == ALICE and e.get("STUDIO_RESULT") == "success"]
        failed = [e for e in logins if e.get("STUDIO_USER") == ALICE and e.get("STUDIO_RESULT") == "failure"]
        out = [e for e in logouts if e.get("STUDIO_USER") == ALICE]
        return (ok, failed, out) if ok and failed and out else None

    try:
        ok, failed, out = poll(entries, 10, "audit entries of alice's logins (success and failure) and logout")
    except AssertionError as e:
        shown = audit_entries(machine, "login", since_us) + audit_entries(machine, "logout", since_us)
        raise AssertionError(f"{e}\n" + "\n".join(map(show_entry, shown))) from None
    for e in ok + failed + out:
        assert e.get("STUDIO_REMOTE_ADDR") == "127.0.0.1", show_entry(e)
    for e in ok + failed:
        assert e.get("MESSAGE_ID") == LOGIN_MESSAGE_ID, show_entry(e)
    for e in out:
        assert e.get("MESSAGE_ID") == LOGOUT_MESSAGE_ID, show_entry(e)


# --- studiod's unix socket --------------------------------------------------------------------------------------------

def test_unix_socket_serves_only_healthz(machine: Machine, alice_web: Browser):
    """A local user's uid is not a login: the socket any local user may reach has nothing that needs one."""
    def status(method: str, path: str, *extra: str) -> str:
        p = machine.run("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--unix-socket", STUDIOD_SOCKET,
                        "-X", method, *extra, f"http://localhost{path}", user=ALICE, check=False)
        assert p.returncode == 0, explain(p)
        return p.stdout.strip()

    assert status("GET", "/healthz") == "200"
    assert status("GET", "/api/v1/workspaces") == "404"
    assert status("GET", "/api/v1/workspaces", "-H", f"Cookie: {SESSION_COOKIE}={alice_web.session}") == "404"
    assert status("GET", "/api/v1/session", "-H", f"Cookie: {SESSION_COOKIE}={alice_web.session}") == "404"
    assert status("POST", "/api/v1/login", "-H", "Content-Type: application/json",
                  "--data", json.dumps({"username": ALICE, "password": "x"})) == "404"


# --- Login rate limits (last: they lock an account and an address for minutes) ----------------------------------------

def expect_rate_limited(r: Response) -> None:
    expect_error(r, 429, "rate_limited")
    retry = r.header("Retry-After")
    assert retry is not None and retry.isdigit() and 1 <= int(retry) <= 300, (
        f"Retry-After should be the seconds to wait (the window is 5 minutes): {r!r}")
    assert SESSION_COOKIE not in r.cookies(), r


def test_too_many_failures_for_one_account_lock_it_for_a_while(machine: Machine, passwords, since_us):
    source = "127.0.0.5"  # the failures come from here; the lock must hold from anywhere
    for i in range(5):  # 5 failures per account in 5 minutes are allowed
        r = Browser(source=source).login(LIMITED, WRONG_PASSWORD)
        assert r.status == 401 and r.json() == WRONG_LOGIN, f"failure {i + 1}: {r!r}"
    # The 6th attempt is refused before PAM, even with the right password, and from any address.
    expect_rate_limited(Browser(source=source).login(LIMITED, passwords[LIMITED]))
    expect_rate_limited(Browser().login(LIMITED, passwords[LIMITED]))
    # Nobody else is locked out, from that address either.
    assert Browser(source=source).login(ALICE, passwords[ALICE]).status == 200

    def locked():
        return [e for e in audit_entries(machine, "login", since_us)
                if e.get("STUDIO_USER") == LIMITED and e.get("STUDIO_RESULT") == "locked"]

    poll(locked, 10, f"an audit entry STUDIO_RESULT=locked for {LIMITED} (units/studio.catalog)")


def test_too_many_failures_from_one_address_lock_it_for_a_while(machine: Machine, passwords, since_us):
    # From 127.0.0.2 (all of 127.0.0.0/8 is this host's loopback), so that 127.0.0.1 stays usable.
    source = "127.0.0.2"
    for i in range(20):  # 20 failures per address in 5 minutes are allowed; each for another (unknown) account
        r = Browser(source=source).login(f"nosuch{i}", WRONG_PASSWORD)
        assert r.status == 401 and r.json() == WRONG_LOGIN, f"failure {i + 1} from {source}: {r!r}"
    expect_rate_limited(Browser(source=source).login(ALICE, passwords[ALICE]))
    assert Browser().login(ALICE, passwords[ALICE]).status == 200, "127.0.0.1 must not be locked by 127.0.0.2"

    def from_there():
        return [e for e in audit_entries(machine, "login", since_us) if e.get("STUDIO_REMOTE_ADDR") == source]

    entries = poll(from_there, 10, f"audit entries of logins from {source}")
    assert {e.get("STUDIO_RESULT") for e in entries} >= {"failure"}, "\n".join(map(show_entry, entries))


def test_passwords_never_reach_the_journal(machine: Machine, passwords):
    journal = machine.run("journalctl", "-b", "--no-pager", "-o", "json", timeout=120).stdout
    assert journal.strip(), "the journal is empty?"
    leaked = [p for p in [*passwords.values(), WRONG_PASSWORD] if p in journal]
    assert not leaked, f"passwords in the journal (journalctl -b -o json): {leaked}"
