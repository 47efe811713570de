"""The dashboard in a real browser, over HTTPS through a TLS reverse proxy, as a user reaches it through Tailscale Serve.

Where things run: headless Chromium (driven by selenium and chromedriver) and caddy (the TLS proxy, standing in for
`tailscale serve`, which Debian does not carry) run on the host, not in the test machine. The machine shares the
host's network namespace (testbed.sh boots it without --private-network), so caddy on the host's 127.0.0.1:8443/8444
reaches studiod's 127.0.0.1:7080/7081 inside, and studiod sees a loopback peer, exactly as it sees tailscale serve.
In the machine, they would add 162 packages (207 MB to download, 740 MB installed: Chromium, Mesa, GTK...) to a
debootstrap tree of 146, which CI builds anew on every run (debootstrap unpacks them one by one), which every machine
boot copies, and whose userland the VM tier repeats in its disk image. On the host they are one apt-get, once per
host, and the browser stands where a user's browser stands: outside the machine. browser.py installs them with apt
(tests/harness.sh apt_install) when missing, so a fresh host needs no manual step.

    https://127.0.0.1:8443  the dashboard origin  (caddy -> studiod 127.0.0.1:7080)
    https://127.0.0.1:8444  the apps origin       (caddy -> studiod 127.0.0.1:7081; [Web] AppsURL= says so)

The dashboard origin is not configured: studiod must derive https://127.0.0.1:8443 from the Host header and caddy's
X-Forwarded-Proto (its CSRF check refuses the login otherwise). Screenshots of every view are kept in
ARTIFACTS/screenshots/, every console entry in ARTIFACTS/browser-console.txt, caddy's log in ARTIFACTS/caddy.log.

The tests run in order and share the desktop browser (logged in by the first). The module makes alice a password,
a template with an app and a named terminal, and the workspace "webui", a container template on the image `built`
(conftest's built_image) and the container workspace "webuibox", and removes all of it afterwards.
"""

from __future__ import annotations

import json
import re
import shutil
from typing import Any

import pytest

from browser import APPS, DASHBOARD, Browser, ConsoleLog, TLSProxy, ensure_host_packages
from conftest import ARTIFACTS
from machine import ALICE, CONF_DROPINS, Machine, explain

SCREENSHOTS = ARTIFACTS / "screenshots"
PASSWORD = "browser-test-78-pass"
WS = "webui"  # alice's workspace, made with the dashboard's form
TEMPLATE = "browser"
TEMPLATE_PATH = f"/etc/studio/templates/{TEMPLATE}.conf"
APP = "hello"  # the template's app
NAMED_TERMINAL = "greeter"  # the template's named terminal
NAMED_TERMINAL_SAYS = "named-terminal-ready"
APP_DIR = "/usr/local/lib/studio-browser-test"
APP_SCRIPT = f"{APP_DIR}/app.py"
APP_READY = "studio-browser-test-app listening"  # the app's first line, in the workspace's journal (the logs view)
WEB_DROPIN = f"{CONF_DROPINS}/78-browser.conf"
ITEM = f'[data-workspace="{WS}"]'
BOX = "webuibox"  # alice's container workspace (image `built`, conftest's built_image), made with studioctl
BOX_TEMPLATE = "browserbox"
BOX_TEMPLATE_PATH = f"/etc/studio/templates/{BOX_TEMPLATE}.conf"
BOX_PROJECT = f"/home/{ALICE}/{BOX}"
BOX_ITEM = f'[data-workspace="{BOX}"]'

# Every view the tests take a screenshot of (ARTIFACTS/screenshots/NAME.png), in order.
VIEWS = {"01-login", "02-dashboard", "03-created", "04-running", "05-terminal", "06-terminal-reloaded", "07-logs",
         "08-app", "08b-idle-kept", "08c-settings", "08d-root-terminal", "08e-reset-dialog", "09-phone-login", "10-phone-dashboard", "11-phone-terminal", "12-logged-out"}
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844, "mobile": True, "pixel_ratio": 3.0}

# The app: a tiny HTTP server on the unix socket $STUDIO_APP_SOCKET, run by the workspace's agent as alice. Its page
# shows the request's path and the names of the cookies it got (studiod must strip its own).
APP_SOURCE = r'''
import html, os, socketserver, sys
from http.server import BaseHTTPRequestHandler

SOCKET = os.environ["STUDIO_APP_SOCKET"]


class Handler(BaseHTTPRequestHandler):
    def address_string(self):
        return "studio"  # a unix socket's peer has no address

    def do_GET(self):
        cookies = sorted(c.split("=", 1)[0].strip() for c in self.headers.get("Cookie", "").split(";") if c.strip())
        body = (
            "<!doctype html><html><head><meta charset=utf-8><title>studio browser test app</title></head><body>"
            "<h1 id=greeting>hello from the browser test app</h1>"
            f"<p>path <code id=path>{html.escape(self.path)}</code></p>"
            f"<p>cookies <code id=cookies>{html.escape(' '.join(cookies)) or '(none)'}</code></p>"
            "</body></html>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        sys.stderr.write("app: " + (fmt % args) + "\n")


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


server = Server(SOCKET, Handler)
print("studio-browser-test-app listening on " + SOCKET, flush=True)
server.serve_forever()
'''

TEMPLATE_CONF = f"""[Template]
Description=Browser test: a web app and a named terminal
Backend=host
[App:{APP}]
Command=exec /usr/bin/python3 {APP_SCRIPT}
[Terminal:{NAMED_TERMINAL}]
Command=echo {NAMED_TERMINAL_SAYS}; exec bash
"""

# The dashboard origin is derived (Host + X-Forwarded-Proto); only the apps origin needs saying, because studiod's
# default for it behind a TLS proxy (the proxy's host on port 8443) is where this proxy serves the dashboard.
WEB_CONF = f"[Web]\nAppsURL={APPS}\n"


# --- fixtures ----------------------------------------------------------------------------------------------------


def restart_studiod(machine: Machine) -> None:
    """studiod reads studio.conf when it starts: stop it; studiod.socket starts it again on the next connection."""
    machine.run("systemctl", "stop", "studiod.service")
    machine.run("systemctl", "reset-failed", "studiod.service", "studiod.socket", check=False)
    ok, why = machine.socket_listens("studiod.socket")
    assert ok, f"studiod.socket does not listen: {why}"


@pytest.fixture(scope="module")
def studio_web(machine: Machine):
    """The app, the template that runs it, [Web] AppsURL; studiod restarted to read them. Afterwards: the workspace
    deleted, all of it removed, studiod stopped so that its next start reads the suite's configuration again."""
    machine.write_file(APP_SCRIPT, APP_SOURCE)
    machine.run("chmod", "0755", APP_DIR)
    machine.run("chmod", "0644", APP_SCRIPT)
    machine.write_file(TEMPLATE_PATH, TEMPLATE_CONF)
    machine.write_file(WEB_DROPIN, WEB_CONF)
    restart_studiod(machine)
    yield
    p = machine.studioctl(ALICE, "delete", WS)
    listed = json.loads(machine.studioctl(ALICE, "list", "--json").stdout)["workspaces"]
    gone = WS not in [w["definition"]["identity"]["name"] for w in listed]
    machine.run("rm", "-rf", TEMPLATE_PATH, WEB_DROPIN, APP_DIR, f"/home/{ALICE}/{WS}")
    machine.run("systemctl", "stop", "studiod.service")
    assert gone, f"could not delete alice's workspace {WS} after the browser tests:\n{explain(p)}"


@pytest.fixture(scope="module")
def box_workspace(machine: Machine, built_image, studio_web):
    """alice's container workspace BOX on the image `built`, running (started with studioctl: the form's path is
    test_desktop_workspace_terminal_logs_and_app's). Deleted afterwards, then its template."""
    machine.write_file(BOX_TEMPLATE_PATH, "[Template]\nDescription=Browser test: a container\nBackend=container\nImage=built\n")
    machine.run("mkdir", "-p", BOX_PROJECT, user=ALICE)
    p = machine.studioctl(ALICE, "start", BOX, "--template", BOX_TEMPLATE, cwd=BOX_PROJECT, timeout=120)
    assert p.returncode == 0, explain(p)
    yield BOX
    machine.studioctl(ALICE, "delete", BOX)
    machine.run("rm", "-rf", BOX_TEMPLATE_PATH, BOX_PROJECT)


@pytest.fixture(scope="module")
def alice_password(machine: Machine) -> str:
    """alice gets a password (the dashboard logs in through PAM); her account's old one is put back afterwards."""
    before = machine.run("getent", "shadow", ALICE).stdout.split(":")[1]
    machine.run("chpasswd", input=f"{ALICE}:{PASSWORD}\n")
    yield PASSWORD
    machine.run("usermod", "-p", before, ALICE)


@pytest.fixture(scope="module")
def proxy() -> TLSProxy:
    try:
        ensure_host_packages()
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
    p = TLSProxy(ARTIFACTS / "caddy.log")
    try:
        p.start()
    except RuntimeError as e:
        pytest.fail(f"could not start the TLS proxy (caddy, tests/system/Caddyfile): {e}", pytrace=False)
    yield p
    p.stop()


@pytest.fixture(scope="module")
def console() -> ConsoleLog:
    """The browsers' console entries, kept in ARTIFACTS/browser-console.txt. (Also clears the screenshots of an
    earlier run, so that what is in ARTIFACTS/screenshots/ is this run's.)"""
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    log = ConsoleLog()
    yield log
    log.write(ARTIFACTS / "browser-console.txt")


@pytest.fixture(scope="module")
def desktop(proxy, console, studio_web, alice_password) -> Browser:
    b = Browser("desktop", proxy, console, SCREENSHOTS, **DESKTOP)
    yield b
    b.quit()


# --- the dashboard's DOM (the hooks web/ promises) --------------------------------------------------------------


def log_in(b: Browser, user: str, password: str) -> None:
    b.wait_displayed("form#login-form", 20, "the login form")
    for css, value in (("input#username", user), ("input#password", password)):
        field = b.find(css)
        field.clear()
        field.send_keys(value)
    b.find("button#login-submit").click()
    b.wait(lambda: b.displayed("#workspaces") and not b.displayed("form#login-form"), 20,
           lambda: f"the dashboard (#workspaces) after logging in as {user} (#error says: {b.text('#error')!r})")


def session_cookie(b: Browser) -> dict[str, Any]:
    cookies = [c for c in b.driver.get_cookies() if c["name"] == "studio_session"]
    assert len(cookies) == 1, f"expected one studio_session cookie, got: {b.driver.get_cookies()}"
    return cookies[0]


def state_of(b: Browser) -> str | None:
    return b.text(f"{ITEM} .state")


def click(b: Browser, css: str) -> None:
    """Click the button CSS once it is shown and enabled."""
    b.wait_displayed(f"{css}:not([disabled])", 15, f"{css} to be shown and enabled")
    b.find(css).click()


def go_home(b: Browser) -> None:
    b.js("location.hash = '#/'")
    b.wait(lambda: b.displayed(ITEM) and b.hash() in ("#/", ""), 10, f"the workspace list with {ITEM} at #/")


def terminal_rows(b: Browser) -> list[str] | None:
    """The text of the terminal's rows (xterm's DOM renderer), trailing blanks dropped; None if there are none."""
    return b.js(
        """const rows = document.querySelector('#terminal .xterm-rows');
        return rows ? Array.from(rows.children, r => r.textContent.replace(/\\u00a0/g, ' ').replace(/\\s+$/, ''))
                    : null;""")


def wait_terminal(b: Browser, what: str, test, timeout: float = 15) -> list[str]:
    """Wait until the terminal's rows pass TEST (a function of the list of rows); return the rows."""
    def check():
        rows = terminal_rows(b)
        if rows is None and b.js("return !!document.querySelector('#terminal .xterm-screen canvas')"):
            raise AssertionError("xterm draws the terminal on a canvas, so its text cannot be read: the dashboard must "
                                 "create it with rendererType: 'dom' (rows in #terminal .xterm-rows)\n" + b.describe())
        return rows if rows is not None and test(rows) else None
    return b.wait(check, timeout, f"{what} in the terminal (#terminal .xterm-rows, xterm's DOM renderer)")


def type_in_terminal(b: Browser, text: str) -> None:
    """Type TEXT as keystrokes into xterm (its .xterm-helper-textarea has the keyboard focus)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    area = b.find("#terminal .xterm-helper-textarea")
    b.js("arguments[0].focus()", area)
    assert b.js("return document.activeElement === arguments[0]", area), "xterm's textarea did not take the focus"
    ActionChains(b.driver).send_keys(text.replace("\n", Keys.ENTER)).perform()


def prompt_shown(rows: list[str]) -> bool:
    return any(re.search(r"[$#]$", r) for r in rows)


def fits_screen(b: Browser) -> None:
    """Nothing on the page is wider than the phone's screen. (Mobile Chrome widens the layout viewport to fit wide
    content, so window.innerWidth must still be the phone's width, too.)"""
    w = b.js("return {scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth}")
    assert w["innerWidth"] == PHONE["width"] and w["scrollWidth"] <= w["innerWidth"], (
        f"the page does not fit the {PHONE['width']}px-wide phone's screen: {w} (something is wider than the screen, "
        f"or <meta name=viewport content='width=device-width'> is missing)\n{b.describe()}")


def error_code(response: dict[str, Any]) -> str | None:
    try:
        return json.loads(response["body"])["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


def need_login(b: Browser) -> None:
    if not b.state.get("logged_in"):
        pytest.fail("the desktop browser is not logged in: test_login_form_sets_a_secure_session_cookie, which "
                    "logs it in, failed or did not run (run the whole module)", pytrace=False)


# --- tests ---------------------------------------------------------------------------------------------------------


def test_login_form_sets_a_secure_session_cookie(desktop: Browser):
    b = desktop
    b.open(f"{DASHBOARD}/")
    b.wait_displayed("form#login-form", 20, "the login form at /")
    assert not b.displayed("#workspaces"), "the workspace list shows before anyone logged in"
    b.screenshot("01-login")

    log_in(b, ALICE, PASSWORD)
    b.state["logged_in"] = True
    b.screenshot("02-dashboard")

    cookie = session_cookie(b)
    got = {k: cookie.get(k) for k in ("domain", "path", "secure", "httpOnly", "sameSite")}
    assert got == {"domain": "127.0.0.1", "path": "/", "secure": True, "httpOnly": True, "sameSite": "Strict"}, (
        f"the session cookie over HTTPS must be Secure, HttpOnly, SameSite=Strict, Path=/: {cookie}")
    assert b.js("return document.cookie.includes('studio_session')") is False, "the page's scripts see the session"

    r = b.fetch("/api/v1/session")
    assert r["status"] == 200, f"GET /api/v1/session with the browser's cookie: {r}"
    assert json.loads(r["body"])["user"]["name"] == ALICE, r


def test_desktop_workspace_terminal_logs_and_app(desktop: Browser):
    b = desktop
    need_login(b)

    # Create with the form, from the template with the app.
    b.wait_displayed("form#create-form", 10, "the create form")
    name = b.find("#create-name")
    name.clear()
    name.send_keys(WS)
    template = b.find("#create-template")
    if template.tag_name == "select":
        from selenium.webdriver.support.ui import Select

        b.wait(lambda: b.js("return Array.from(arguments[0].options).some(o => o.value === arguments[1])",
                            template, TEMPLATE), 10, f"the template {TEMPLATE!r} among #create-template's options")
        Select(template).select_by_value(TEMPLATE)
    else:
        template.clear()
        template.send_keys(TEMPLATE)
    submit = b.js("return Array.from(document.querySelector('form#create-form').elements)"
                  ".find(e => e.type === 'submit') || null")
    assert submit is not None, "form#create-form has no submit button"
    submit.click()
    # The form's button is "Create and start".
    b.wait(lambda: state_of(b) == "running", 45, f"{ITEM} with .state 'running' after the create form")
    b.screenshot("03-created")

    # Stop and start it with its buttons.
    click(b, f'{ITEM} [data-action="stop"]')
    b.wait(lambda: state_of(b) == "stopped", 30, f"{ITEM} .state to become 'stopped'")
    click(b, f'{ITEM} [data-action="start"]')
    b.wait(lambda: state_of(b) == "running", 45, f"{ITEM} .state to become 'running'")
    for css in (f'{ITEM} [data-action="app"][data-app="{APP}"]',
                f'{ITEM} [data-action="terminal"][data-terminal="{NAMED_TERMINAL}"]'):
        assert b.displayed(css), f"no {css} for the template's app/terminal\n{b.describe()}"
    b.screenshot("04-running")

    # The workspace's shell: the terminal button that is not one of the template's named terminals.
    plain = f'{ITEM} [data-action="terminal"]:not([data-terminal="{NAMED_TERMINAL}"])'
    click(b, plain)
    b.wait_displayed("#terminal-view", 10, "the terminal view")
    route = b.hash()
    assert route.startswith(f"#/w/{WS}/terminal/"), f"the terminal's route: {route!r}"
    wait_terminal(b, "the shell's prompt", prompt_shown)
    type_in_terminal(b, "echo browser-$((6*7))\n")
    wait_terminal(b, "the line browser-42", lambda rows: "browser-42" in rows)
    b.screenshot("05-terminal")

    # A reload attaches again and gets the scrollback.
    b.refresh()
    b.wait_displayed("#terminal-view", 15, "the terminal view after reloading the page")
    assert b.hash() == route, f"the route after reloading: {b.hash()!r}, was {route!r}"
    rows = wait_terminal(b, "the line browser-42 replayed after reloading", lambda rows: "browser-42" in rows)
    assert any("echo browser-$((6*7))" in r for r in rows), f"the command line is not in the replay: {rows}"
    b.screenshot("06-terminal-reloaded")

    # The logs view shows the workspace's journal, where the app said it listens.
    go_home(b)
    click(b, f'{ITEM} [data-action="logs"]')
    b.wait(lambda: b.hash() == f"#/w/{WS}/logs", 10, f"the route #/w/{WS}/logs")
    b.wait(lambda: APP_READY in b.js("return document.body.innerText"), 15,
           f"the app's line {APP_READY!r} in the logs view")
    b.screenshot("07-logs")

    # The app opens in a new window on the apps origin, through a one-time ticket.
    go_home(b)
    main = b.driver.current_window_handle
    before = set(b.driver.window_handles)
    click(b, f'{ITEM} [data-action="app"][data-app="{APP}"]')
    new = b.wait(lambda: set(b.driver.window_handles) - before, 10, "a new window for the app")
    assert len(new) == 1, f"the app opened {len(new)} windows"
    b.driver.switch_to.window(new.pop())
    try:
        app_path = f"{APPS}/{ALICE}/{WS}/apps/{APP}/"
        b.wait(lambda: b.driver.current_url.startswith(app_path) and b.text("#greeting"), 15,
               f"the app's page at {app_path}")
        assert b.text("#greeting") == "hello from the browser test app"
        assert "ticket=" not in b.driver.current_url, f"the ticket stays in the URL: {b.driver.current_url}"
        b.screenshot("08-app")
        seen = (b.text("#cookies") or "").split()
        assert "studio_session" not in seen and "studio_app" not in seen, f"the app got Studio's cookies: {seen}"
        app_cookie = [c for c in b.driver.get_cookies() if c["name"] == "studio_app"]
        assert len(app_cookie) == 1, f"no studio_app cookie on the apps origin: {b.driver.get_cookies()}"
        got = {k: app_cookie[0].get(k) for k in ("path", "httpOnly", "sameSite")}
        assert got == {"path": f"/{ALICE}/{WS}/apps/{APP}/", "httpOnly": True, "sameSite": "Lax"}, app_cookie[0]
        b.drain()
    finally:
        b.driver.close()
        b.driver.switch_to.window(main)


def workspace_view(b: Browser) -> dict[str, Any]:
    r = b.fetch(f"/api/v1/workspaces/{WS}")
    assert r["status"] == 200, f"GET /api/v1/workspaces/{WS}: {r}"
    return json.loads(r["body"])


def clock(b: Browser, iso: str) -> str:
    """An API time on the browser's local clock, as the dashboard says it: HH:MM today, "Wed HH:MM" another day of
    this week (a keep of a few hours at night ends tomorrow)."""
    return b.js("""const t = new Date(arguments[0]), today = new Date();
        const hhmm = String(t.getHours()).padStart(2, '0') + ':' + String(t.getMinutes()).padStart(2, '0');
        if (t.toDateString() === today.toDateString()) return hhmm;
        return ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][t.getDay()] + ' ' + hhmm;""", iso)


def idle_text(b: Browser) -> str:
    return b.text(f"{ITEM} .ws-idle .idle-text") or ""


def expected_stop_phrase(b: Browser, idle: dict[str, Any], timeout: str) -> str:
    """How the idle line begins: the deadline when studio-idled has given one, else the timeout in force."""
    return f"Stops at {clock(b, idle['stopsAt'])} if idle" if idle["stopsAt"] else f"Stops after {timeout} idle"


def test_idle_line_keep_and_the_idle_timeout_setting(desktop: Browser):
    b = desktop
    need_login(b)
    go_home(b)
    b.wait(lambda: state_of(b) == "running", 20, f"{ITEM} running (the test before made and started it)")

    # The idle line: when it stops if nothing happens ([Idle] Timeout= 2h in force).
    view = workspace_view(b)
    assert view["idle"]["timeoutSeconds"] == 7200, view["idle"]
    b.wait(lambda: idle_text(b).startswith(expected_stop_phrase(b, workspace_view(b)["idle"], "2 h")), 10,
           lambda: f"the idle line to start with {expected_stop_phrase(b, workspace_view(b)['idle'], '2 h')!r}; "
                   f"it says {idle_text(b)!r}")
    assert "kept until" not in idle_text(b).lower(), idle_text(b)
    assert not b.displayed(f'{ITEM} [data-action="keep"][data-seconds="0"]'), "End keep shown without a keep"

    # Keep for 3 h: the API has the keep, the line says until when, and End keep appears.
    click(b, f'{ITEM} [data-action="keep"][data-seconds="10800"]')
    # 3 h is longer than the 2 h timeout: once studio-idled has seen the keep, the keep is what holds it.
    # (studio-idled checks every 5 s; 30 s leaves room on a loaded test machine.)
    kept = b.wait(lambda: (lambda idle: idle if idle["keptBy"] == "keep" else None)(workspace_view(b)["idle"]), 30,
                  lambda: f"keptBy 'keep' in the API: {workspace_view(b)['idle']}")
    assert kept["stopsAt"] == kept["keepUntil"], kept
    want = f"Kept until {clock(b, kept['keepUntil'])}, then stopped if idle"
    b.wait(lambda: idle_text(b).startswith(want), 5, lambda: f"the idle line to say {want!r}; it says {idle_text(b)!r}")
    assert b.displayed(f'{ITEM} [data-action="keep"][data-seconds="0"]'), f"no End keep button\n{b.describe()}"
    b.screenshot("08b-idle-kept")

    # End keep: gone from the API and the line.
    click(b, f'{ITEM} [data-action="keep"][data-seconds="0"]')
    # (studio-idled reads the end from the journal, so GET shows it within its check interval of 5 s.)
    b.wait(lambda: workspace_view(b)["idle"]["keepUntil"] is None and "kept until" not in idle_text(b).lower() and
           not b.displayed(f'{ITEM} [data-action="keep"][data-seconds="0"]'), 15,
           lambda: f"the keep to end in the API and on the page (the idle line says {idle_text(b)!r})")

    # The idle timeout in the settings dialog: shown as 2h, set to 90min.
    click(b, f'{ITEM} [data-action="limits"]')
    b.wait_displayed("#limits-dialog #limits-idle", 5, "the idle timeout field in the settings dialog")
    assert b.find("#limits-idle").get_attribute("value") == "2h", b.find("#limits-idle").get_attribute("value")
    field = b.find("#limits-idle")
    field.clear()
    field.send_keys("90min")
    b.screenshot("08c-settings")
    b.find("#limits-submit").click()
    b.wait(lambda: not b.displayed("#limits-dialog"), 10, lambda: f"the dialog to close (#error: {b.text('#error')!r})")
    assert workspace_view(b)["idle"]["timeoutSeconds"] == 5400
    b.wait(lambda: idle_text(b).startswith(expected_stop_phrase(b, workspace_view(b)["idle"], "1 h 30 min")), 10,
           lambda: f"the idle line after the new timeout; it says {idle_text(b)!r}")

    # A bad timeout is refused in the page, with a message, and nothing is sent.
    click(b, f'{ITEM} [data-action="limits"]')
    b.wait_displayed("#limits-dialog #limits-idle", 5, "the settings dialog again")
    assert b.find("#limits-idle").get_attribute("value") == "90min"
    field = b.find("#limits-idle")
    field.clear()
    field.send_keys("soon")
    b.find("#limits-submit").click()
    b.wait(lambda: "is not a time span" in (b.text("#error") or ""), 5, "the dialog's message about the timeout")
    b.find("#limits-cancel").click()
    assert workspace_view(b)["idle"]["timeoutSeconds"] == 5400


def test_container_workspace_root_terminal_and_reset(desktop: Browser, machine: Machine, box_workspace):
    """A container workspace says so in its row; Root terminal opens root@NAME, where id -u is 0; once stopped,
    Reset… asks what it drops and resets it (with the home, when ticked)."""
    b = desktop
    need_login(b)
    go_home(b)
    b.wait_displayed(BOX_ITEM, 15, f"alice's container workspace {BOX_ITEM} in the list")
    b.wait(lambda: b.text(f"{BOX_ITEM} .state") == "running", 15, f"{BOX_ITEM} running")
    assert b.text(f"{BOX_ITEM} .ws-backend") == "container · built", b.describe()
    assert b.text(f"{ITEM} .ws-backend") == "host", b.describe()
    assert not b.displayed(f'{ITEM} [data-action="root-terminal"]'), "a host workspace offers a root terminal"
    assert not b.displayed(f'{BOX_ITEM} [data-action="reset"]'), "reset is offered while the workspace runs"

    click(b, f'{BOX_ITEM} [data-action="root-terminal"]')
    b.wait_displayed("#terminal-view", 10, "the terminal view")
    assert b.hash() == f"#/w/{BOX}/root/root", f"the root terminal's route: {b.hash()!r}"
    assert b.text("#terminal-title") == f"root@{BOX}", b.text("#terminal-title")
    assert b.js("return document.title").startswith(f"root@{BOX}"), b.js("return document.title")
    wait_terminal(b, "root's prompt", prompt_shown, timeout=30)
    type_in_terminal(b, "id -u; echo root-$((6*7))\n")
    rows = wait_terminal(b, "the line root-42", lambda rows: "root-42" in rows)
    assert "0" in rows, f"id -u in the root terminal should print 0: {rows}"
    b.screenshot("08d-root-terminal")

    # Stopped: Reset… asks first, saying what goes and what stays.
    go_home(b)
    click(b, f'{BOX_ITEM} [data-action="stop"]')
    b.wait(lambda: b.text(f"{BOX_ITEM} .state") == "stopped", 30, f"{BOX_ITEM} .state to become 'stopped'")
    assert not b.displayed(f'{BOX_ITEM} [data-action="root-terminal"]'), "a root terminal is offered while stopped"
    click(b, f'{BOX_ITEM} [data-action="reset"]')
    b.wait_displayed("#reset-dialog", 5, "the reset dialog")
    said = b.js("return document.querySelector('#reset-dialog').innerText")
    for words in ("root installed or changed", BOX_PROJECT, "is kept", "built", "home"):
        assert words in said, f"the reset dialog should say {words!r}: {said!r}"
    b.find("#reset-home").click()
    b.screenshot("08e-reset-dialog")
    b.find("#reset-submit").click()
    b.wait(lambda: not b.displayed("#reset-dialog"), 15, "the reset dialog to close after the reset")
    assert not b.text("#error"), b.text("#error")

    def reset_entry():
        entries = [e for e in machine.journal("STUDIO_AUDIT=1", "STUDIO_EVENT=workspace-reset", f"STUDIO_WORKSPACE={BOX}")
                   if e.get("STUDIO_USER") == ALICE]
        return entries[-1] if entries else None

    entry = b.wait(reset_entry, 10, f"a workspace-reset audit entry for {ALICE}/{BOX}")
    assert (entry["STUDIO_RESULT"], entry.get("STUDIO_REASON")) == ("success", "layer and home"), entry


def test_phone_login_workspace_and_terminal_fit_the_screen(proxy, console, studio_web, alice_password):
    b = Browser("phone", proxy, console, SCREENSHOTS, **PHONE)
    try:
        b.open(f"{DASHBOARD}/")
        b.wait_displayed("form#login-form", 20, "the login form at /")
        fits_screen(b)
        b.screenshot("09-phone-login")

        log_in(b, ALICE, PASSWORD)
        b.wait(lambda: state_of(b) == "running", 20,
               f"{ITEM} running (test_desktop_workspace_terminal_logs_and_app made and started it)")
        click(b, f'{ITEM} [data-action="keep"][data-seconds="3600"]')  # so that the picture has a keep
        b.wait(lambda: "kept until" in (b.text(f"{ITEM} .ws-idle .idle-text") or "").lower(), 10, "the keep on the phone")
        fits_screen(b)
        b.screenshot("10-phone-dashboard")

        click(b, f'{ITEM} [data-action="terminal"][data-terminal="{NAMED_TERMINAL}"]')
        b.wait_displayed("#terminal-view", 10, "the terminal view")
        assert b.hash() == f"#/w/{WS}/terminal/{NAMED_TERMINAL}", b.hash()
        wait_terminal(b, f"the named terminal's line {NAMED_TERMINAL_SAYS}", lambda rows: NAMED_TERMINAL_SAYS in rows)
        fits_screen(b)
        b.screenshot("11-phone-terminal")
    finally:
        b.quit()


def test_logout_ends_the_session(desktop: Browser):
    b = desktop
    need_login(b)
    go_home(b)
    old = session_cookie(b)
    r = b.fetch("/api/v1/workspaces")
    assert r["status"] == 200, f"GET /api/v1/workspaces before logging out: {r}"

    b.find("button#logout").click()
    b.wait(lambda: b.displayed("form#login-form") and not b.displayed("#workspaces"), 10,
           "the login form after logging out")
    b.screenshot("12-logged-out")
    b.state["logged_in"] = False

    # The old cookie, put back by hand, no longer works: the session is gone on the server, not just in the browser.
    b.driver.delete_cookie("studio_session")
    b.driver.add_cookie({k: old[k] for k in ("name", "value", "path", "secure", "httpOnly", "sameSite")})
    assert session_cookie(b)["value"] == old["value"]
    for path in ("/api/v1/workspaces", "/api/v1/session"):
        r = b.fetch(path)
        assert r["status"] == 401 and error_code(r) == "unauthorized", f"GET {path} with the logged-out cookie: {r}"
    b.refresh()
    b.wait(lambda: b.displayed("form#login-form") and not b.displayed("#workspaces"), 15,
           "the login form on reloading with the logged-out cookie")


def test_console_has_no_csp_violations_or_js_errors(desktop: Browser, console: ConsoleLog):
    desktop.drain()
    where = console.write(ARTIFACTS / "browser-console.txt")
    errors = console.errors()
    assert not errors, (f"{len(errors)} CSP violations or JS errors in the browser console (all entries in {where}):\n"
                        + "\n".join(ConsoleLog.show(e) for e in errors))
    missing = sorted(VIEWS - console.views)
    assert not missing, (f"the browsers never reached these views, so their consoles were not seen: {missing} (the "
                         "tests before this one failed or were not run; run the whole module)")
