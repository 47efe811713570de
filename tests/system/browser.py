"""Headless Chromium behind a local TLS proxy, for the browser tests (test_78_browser.py).

All of it runs on the host, which shares its network namespace with the test machine (testbed.sh boots it without
--private-network), so the host's 127.0.0.1:7080/7081 are studiod's sockets inside the machine:

    Chromium (selenium) --https--> caddy on 127.0.0.1:8443/8444 (Caddyfile) --http--> studiod on 127.0.0.1:7080/7081

caddy stands in for `tailscale serve`: it terminates TLS with a certificate from its own local CA and forwards with
X-Forwarded-Proto: https from loopback, as tailscale serve does. Chromium trusts only that CA (the SPKI of its
intermediate key; no blanket --ignore-certificate-errors), so a page that loads is one caddy served.

The host packages (chromium, chromium-driver, python3-selenium, caddy) are installed here with apt when missing,
through tests/harness.sh's apt_install, like every other tool the test scripts need; selenium is imported only then.
"""

from __future__ import annotations

import base64
import ctypes
import hashlib
import importlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, TypeVar

T = TypeVar("T")

HERE = Path(__file__).resolve().parent
HARNESS_SH = HERE.parent / "harness.sh"
CADDYFILE = HERE / "Caddyfile"

# What the Caddyfile says: the dashboard origin and the apps origin, both on the host's (= the machine's) loopback.
DASHBOARD = "https://127.0.0.1:8443"
APPS = "https://127.0.0.1:8444"
PROXY_PORTS = (8443, 8444)

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CADDY = "/usr/bin/caddy"
DEBIAN_PYTHON = "/usr/bin/python3"  # python3-selenium installs for this one; tests/system/run.sh runs pytest with it


# --- host packages ---------------------------------------------------------------------------------------------


def _has_selenium() -> bool:
    importlib.invalidate_caches()
    try:
        import selenium  # noqa: F401
    except ImportError:
        return False
    return True


def ensure_host_packages() -> None:
    """Install what the browser tests need on the host with apt (tests/harness.sh apt_install), if missing.
    Raises RuntimeError saying what is missing and why it could not be had."""
    missing = [pkg for pkg, path in (("chromium", CHROMIUM), ("chromium-driver", CHROMEDRIVER), ("caddy", CADDY))
               if not os.access(path, os.X_OK)]
    if not _has_selenium():
        missing.append("python3-selenium")
    if missing:
        proc = subprocess.run(
            ["bash", "-c", 'PROG=test_78_browser; source "$1"; shift; apt_install "$@"', "bash", str(HARNESS_SH),
             *missing],
            capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise RuntimeError(f"the browser tests need {' '.join(missing)} on the host, and apt could not install "
                               f"them (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
        if "caddy" in missing and os.path.isdir("/run/systemd/system"):
            # On a host booted with systemd, Debian's caddy package starts a web server on port 80 (caddy.service).
            # The tests run a caddy of their own; take back what installing it for them started.
            subprocess.run(["systemctl", "disable", "--now", "caddy.service"], capture_output=True,
                           stdin=subprocess.DEVNULL, timeout=60)
    still = [path for path in (CHROMIUM, CHROMEDRIVER, CADDY) if not os.access(path, os.X_OK)]
    if still:
        raise RuntimeError(f"after apt-get install, still missing on the host: {' '.join(still)}")
    if not _has_selenium():
        raise RuntimeError(
            f"python3-selenium is installed for Debian's {DEBIAN_PYTHON}, but pytest runs under {sys.executable}, "
            "which cannot import it: run the system tests with tests/system/run.sh (it uses /usr/bin/python3)")


# --- the TLS proxy ---------------------------------------------------------------------------------------------


def _der_element(der: bytes, i: int) -> tuple[int, int, int]:
    """(tag, start of contents, end of element) of the DER element that starts at offset I."""
    tag, length, j = der[i], der[i + 1], i + 2
    if length & 0x80:
        n = length & 0x7F
        length, j = int.from_bytes(der[j:j + n], "big"), j + n
    return tag, j, j + length


def spki_sha256(pem: str) -> str:
    """base64(sha256(SubjectPublicKeyInfo)) of a PEM certificate: what Chromium's
    --ignore-certificate-errors-spki-list takes (the same as openssl x509 -pubkey | openssl pkey -pubin -outform der |
    openssl dgst -sha256 -binary | base64)."""
    der = ssl.PEM_cert_to_DER_cert(pem)
    _, cert, _ = _der_element(der, 0)  # Certificate ::= SEQUENCE { tbsCertificate, ... }
    _, i, _ = _der_element(der, cert)  # TBSCertificate ::= SEQUENCE { [0] version, serial, signature, issuer, ...
    if der[i] == 0xA0:  # explicit [0] version (absent in v1 certificates)
        i = _der_element(der, i)[2]
    for _ in range(5):  # serialNumber, signature, issuer, validity, subject
        i = _der_element(der, i)[2]
    _, _, end = _der_element(der, i)  # subjectPublicKeyInfo
    return base64.b64encode(hashlib.sha256(der[i:end]).digest()).decode()


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when pytest dies (even by SIGKILL), so no caddy is left holding the ports."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def host_listeners(ports: tuple[int, ...]) -> str:
    out = []
    for port in ports:
        out.append(subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True).stdout.strip())
    return "\n".join(o for o in out if o)


class TLSProxy:
    """caddy, run on the host from tests/system/Caddyfile with a throwaway data directory (its local CA)."""

    def __init__(self, log_path: Path):
        self.log_path = log_path
        self.dir: Path | None = None
        self.proc: subprocess.Popen | None = None

    @property
    def root_cert(self) -> Path:
        return self.dir / "data/pki/authorities/local/root.crt"

    @property
    def intermediate_cert(self) -> Path:
        return self.dir / "data/pki/authorities/local/intermediate.crt"

    def start(self, timeout: float = 20) -> None:
        busy = host_listeners(PROXY_PORTS)
        if busy:
            raise RuntimeError(f"the TLS proxy's ports {PROXY_PORTS} are taken on the host (the test machine shares "
                               f"the host's network):\n{busy}")
        self.dir = Path(tempfile.mkdtemp(prefix="studio-caddy-"))
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(self.dir),
               "XDG_DATA_HOME": str(self.dir / "xdg-data"), "XDG_CONFIG_HOME": str(self.dir / "xdg-config"),
               "STUDIO_CADDY_DATA": str(self.dir / "data")}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen([CADDY, "run", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                                         start_new_session=True, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"caddy exited at once with status {self.proc.returncode}:\n{self.log_tail()}")
            why = self._serving()
            if why is None:
                return
            if time.monotonic() >= deadline:
                self.stop()
                raise RuntimeError(f"caddy does not serve TLS on {PROXY_PORTS} after {timeout:g}s ({why}):\n"
                                   f"{self.log_tail()}")
            time.sleep(0.1)

    def _serving(self) -> str | None:
        """None when both ports complete a TLS handshake with a certificate of caddy's CA for 127.0.0.1; else why not."""
        if not self.root_cert.exists() or not self.intermediate_cert.exists():
            return "no local CA yet"
        ctx = self.ssl_context()
        for port in PROXY_PORTS:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                    with ctx.wrap_socket(s, server_hostname="127.0.0.1"):
                        pass
            except (OSError, ssl.SSLError) as e:
                return f"port {port}: {e}"
        return None

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.root_cert))

    def spki(self) -> str:
        """What Chromium is told to trust: the SPKI hash of the intermediate key that signs caddy's certificates."""
        return spki_sha256(self.intermediate_cert.read_text())

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError as e:
            return f"(no caddy log: {e})"

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


# --- the browser -----------------------------------------------------------------------------------------------


class ConsoleLog:
    """Every console entry of every browser of the module (driver.get_log('browser')), with where it was seen."""

    def __init__(self):
        self.entries: list[dict[str, Any]] = []
        self.views: set[str] = set()  # the screenshots taken: which views the browsers reached

    def add(self, browser: str, url: str, entries: list[dict[str, Any]]) -> None:
        for e in entries:
            self.entries.append({**e, "browser": browser, "page": url})

    @staticmethod
    def is_error(e: dict[str, Any]) -> bool:
        """A CSP violation (source "security", or a message naming the Content Security Policy) or a JS error
        (source "javascript": uncaught exceptions, syntax errors). Not: "network" entries (an expected 401 of the
        API logs "Failed to load resource"), nor the page's own console.log/console.error ("console-api")."""
        return e.get("source") in ("security", "javascript") or "Content Security Policy" in e.get("message", "")

    def errors(self) -> list[dict[str, Any]]:
        return [e for e in self.entries if self.is_error(e)]

    @staticmethod
    def show(e: dict[str, Any]) -> str:
        return f"[{e.get('browser')}] {e.get('level')} {e.get('source')}: {e.get('message')}  (page {e.get('page')})"

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(self.show(e) + "\n" for e in self.entries) or "(no console entries)\n")
        return path


class Browser:
    """One headless Chromium (its own profile) driven by chromedriver, at a fixed viewport size."""

    def __init__(self, name: str, proxy: TLSProxy, console: ConsoleLog, screenshots: Path, *, width: int,
                 height: int, mobile: bool = False, pixel_ratio: float = 1.0):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.name, self.console, self.screenshots = name, console, screenshots
        self.state: dict[str, Any] = {}  # what one test of a module leaves for the next (e.g. logged in)
        self.profile = tempfile.mkdtemp(prefix=f"studio-chromium-{name}-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox",  # root on the host: Chromium's sandbox refuses to run as root
                    f"--user-data-dir={self.profile}", "--disable-dev-shm-usage", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--password-store=basic", f"--ignore-certificate-errors-spki-list={proxy.spki()}"):
            options.add_argument(arg)
        metrics = {"width": width, "height": height, "pixelRatio": pixel_ratio, "mobile": mobile, "touch": mobile}
        emulation: dict[str, Any] = {"deviceMetrics": metrics}
        if mobile:
            emulation["userAgent"] = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
                                      "Chrome/120.0.0.0 Mobile Safari/537.36")
        options.add_experimental_option("mobileEmulation", emulation)  # exact viewport, in every tab it opens
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        try:
            self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        except Exception:
            shutil.rmtree(self.profile, ignore_errors=True)
            raise
        self.driver.set_script_timeout(20)
        self.shots = 0

    # --- pages ---------------------------------------------------------------------------------------------------

    def open(self, url: str) -> None:
        self.driver.get(url)

    def refresh(self) -> None:
        self.drain()
        self.driver.refresh()

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def fetch(self, path: str, method: str = "GET") -> dict[str, Any]:
        """fetch(PATH) in the page, with the page's cookies: {"status", "body"} (status 0: it failed, body says why).
        A request that changes state carries the page's Origin, as the dashboard's own do."""
        return self.driver.execute_async_script(
            """const [path, method, done] = arguments;
            fetch(path, {method, credentials: 'same-origin', headers: {'Accept': 'application/json'}})
              .then(async r => done({status: r.status, body: await r.text()}),
                    e => done({status: 0, body: String(e)}));""", path, method)

    def find(self, css: str):
        """The first element matching CSS; fails saying what the page shows when there is none."""
        from selenium.webdriver.common.by import By

        found = self.driver.find_elements(By.CSS_SELECTOR, css)
        if not found:
            raise AssertionError(f"[{self.name}] no element {css} on the page\n{self.describe()}")
        return found[0]

    def displayed(self, css: str) -> bool:
        """Some element matching CSS is rendered: neither it nor an ancestor is display:none (the `hidden`
        attribute) or visibility:hidden. An empty list still counts: it is there, with nothing in it."""
        return bool(self.js(
            """return Array.from(document.querySelectorAll(arguments[0]))
                 .some(e => e.checkVisibility({visibilityProperty: true}));""", css))

    def text(self, css: str) -> str | None:
        """textContent of the first element matching CSS, stripped; None when there is none."""
        return self.js("const e = document.querySelector(arguments[0]); return e ? e.textContent.trim() : null", css)

    def hash(self) -> str:
        return self.js("return location.hash")

    def screenshot(self, name: str) -> Path:
        self.screenshots.mkdir(parents=True, exist_ok=True)
        path = self.screenshots / f"{name}.png"
        if not self.driver.save_screenshot(str(path)):
            raise AssertionError(f"[{self.name}] could not save a screenshot to {path}")
        if not name.startswith("failed-"):
            self.console.views.add(name)
        return path

    # --- waiting and reporting -----------------------------------------------------------------------------------

    def drain(self) -> list[dict[str, Any]]:
        """Move the console entries Chromium collected since the last call into the module's ConsoleLog."""
        try:
            entries = self.driver.get_log("browser")
            url = self.driver.current_url
        except Exception as e:  # a closed window: nothing to collect
            entries, url = [], f"(unavailable: {type(e).__name__})"
        self.console.add(self.name, url, entries)
        return entries

    def describe(self) -> str:
        """What the page shows, for assertion messages: URL, visible text, console errors so far."""
        try:
            url, body = self.driver.current_url, self.js("return document.body ? document.body.innerText : ''")
        except Exception as e:
            return f"(page unavailable: {e})"
        self.drain()
        errors = [ConsoleLog.show(e) for e in self.console.entries if e["browser"] == self.name and
                  (ConsoleLog.is_error(e) or e.get("level") == "SEVERE")]
        return (f"--- {self.name} at {url} ---\n{(body or '').strip()[:2000]}\n"
                f"--- console errors and failed loads so far ---\n" + ("\n".join(errors[-15:]) or "(none)"))

    def wait(self, fn: Callable[[], T], timeout: float, what: str | Callable[[], str], interval: float = 0.1) -> T:
        """Call fn until it returns something truthy and return that. After TIMEOUT seconds fail with WHAT (a
        callable is asked then) and what the page shows, and keep a screenshot of it (failed-NAME-N.png)."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while True:
            try:
                last = fn()
            except AssertionError:
                raise
            except Exception as e:  # a page in the middle of navigating, an element replaced by a re-render
                last = f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
            else:
                if last:
                    return last
            if time.monotonic() >= deadline:
                self.shots += 1
                shot = f"failed-{self.name}-{self.shots}"
                try:
                    where = f"screenshot: {self.screenshot(shot)}"
                except Exception as e:
                    where = f"(no screenshot: {e})"
                if callable(what):
                    what = what()
                raise AssertionError(f"[{self.name}] timed out after {timeout:g}s waiting for {what}; last seen: "
                                     f"{last!r}; {where}\n{self.describe()}")
            time.sleep(interval)

    def wait_displayed(self, css: str, timeout: float, what: str | None = None) -> None:
        self.wait(lambda: self.displayed(css), timeout, what or f"{css} to be displayed")

    def quit(self) -> None:
        try:
            self.drain()
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)
