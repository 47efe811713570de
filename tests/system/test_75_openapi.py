"""web/openapi.json is true of the running studiod, for inputs nobody wrote by hand (schemathesis).

What this proves:
- studiod serves, at /api/v1/openapi.json, exactly the web/openapi.json of the tree (installed as
  /usr/share/studio/web/openapi.json);
- for every operation of the API but the ones that end the session or leave HTTP (logout, the terminal WebSocket, app
  tickets), hundreds of generated requests, valid and invalid (the examples, boundary values, random data), get no 5xx
  (`not_a_server_error`), only status codes the document lists for that operation (`status_code_conformance`), and
  bodies that match the document's schemas (`response_schema_conformance`: a Workspace is a Workspace, an error is
  `{"error": {"code", "message"}}` with the code its status stands for);
- malformed login bodies get documented answers, never a crash.

schemathesis runs on the host, like the tests (the machine shares the host's network, see webclient.py), in a venv of
its own that this file makes on first use (PyPI, a pinned version) under the testbed cache ($STUDIO_TESTBED_CACHE,
inside the clone in CI, so a fresh CI machine installs it each run). If it cannot be installed the test fails: it is
never skipped. It acts as a user of its own (grace), so that what it creates, starts and deletes cannot disturb
alice's and bob's workspaces; that user and her workspaces are removed afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ARTIFACTS
from machine import Machine
from webclient import DASHBOARD, SESSION_COOKIE, Browser, logged_in

SCHEMATHESIS_VERSION = "4.32.5"
VENV = Path(os.environ.get("STUDIO_TESTBED_CACHE", "/var/cache/studio-testbed")) / f"schemathesis-{SCHEMATHESIS_VERSION}"
SPEC = Path(__file__).resolve().parents[2] / "web" / "openapi.json"
INSTALLED_SPEC = "/usr/share/studio/web/openapi.json"
FUZZER = "grace"  # the account schemathesis acts as
SEED = os.environ.get("STUDIO_SCHEMATHESIS_SEED", "7080")  # fixed: the same requests every run (override to explore)
CHECKS = "not_a_server_error,status_code_conformance,response_schema_conformance"
# Not generated against: logout ends the session the run uses; the terminal is a WebSocket (test_74 drives it);
# a ticket is a one-time grant for the apps origin (test_74 follows it). Login gets a run of its own below.
EXCLUDED = ["/api/v1/login", "/api/v1/logout", "/api/v1/workspaces/{name}/terminals/{terminal}",
            "/api/v1/workspaces/{name}/apps/{app}/ticket"]

# Loaded by schemathesis (SCHEMATHESIS_HOOKS).
HOOKS = r'''
import schemathesis


@schemathesis.hook
def before_call(context, case, kwargs):
    # follow=1 turns the logs answer into an endless event stream: test_74 reads that; here it would only time out.
    if isinstance(case.query, dict):
        case.query.pop("follow", None)
    # Generated logins must not count against a real account's failure limit (alice's, say, from the example):
    # whatever user name a case carries, it is one that does not exist.
    if case.operation.path == "/api/v1/login" and isinstance(case.body, dict) and isinstance(case.body.get("username"), str):
        case.body["username"] = "fuzz-nobody"
'''


def _run(cmd: list[str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def _install() -> Path:
    """schemathesis in VENV, installed from PyPI if it is not there yet (or a run before was cut off)."""
    exe = VENV / "bin" / "schemathesis"
    marker = VENV / ".installed"
    if marker.is_file() and exe.is_file():
        return exe
    shutil.rmtree(VENV, ignore_errors=True)
    VENV.parent.mkdir(parents=True, exist_ok=True)
    if _run([sys.executable, "-c", "import ensurepip, venv"], 60).returncode != 0:
        # Debian splits venv's pip bootstrap into python3-venv.
        for cmd in (["apt-get", "update", "-q"],
                    ["apt-get", "install", "-y", "-q", "--no-install-recommends", "python3-venv"]):
            p = _run(cmd, 600)
            assert p.returncode == 0, f"{' '.join(cmd)} failed:\n{p.stdout}\n{p.stderr}"
    p = _run([sys.executable, "-m", "venv", str(VENV)], 300)
    assert p.returncode == 0, f"python3 -m venv {VENV} failed:\n{p.stdout}\n{p.stderr}"
    p = _run([str(VENV / "bin" / "pip"), "install", "--disable-pip-version-check", "-q",
              f"schemathesis=={SCHEMATHESIS_VERSION}"], 900)
    assert p.returncode == 0, (
        f"pip install schemathesis=={SCHEMATHESIS_VERSION} failed (is PyPI reachable?):\n{p.stdout}\n{p.stderr}")
    assert exe.is_file(), f"no {exe} after installing schemathesis"
    marker.write_text(f"schemathesis=={SCHEMATHESIS_VERSION}\n")
    return exe


@pytest.fixture(scope="module")
def schemathesis() -> Path:
    started = time.monotonic()
    exe = _install()
    print(f"schemathesis {SCHEMATHESIS_VERSION} ready in {time.monotonic() - started:.1f}s: {exe}")
    return exe


@pytest.fixture(scope="module")
def fuzzer(machine: Machine) -> Browser:
    """grace, logged in; afterwards her workspaces (whatever schemathesis made) and the account are removed."""
    password = f"{FUZZER}-pw-{os.urandom(8).hex()}"
    machine.sh(f"id {FUZZER} >/dev/null 2>&1 || useradd -m -s /bin/bash {FUZZER}")
    machine.run("chpasswd", input=f"{FUZZER}:{password}\n")
    b = logged_in(FUZZER, password)
    yield b
    r = b.get("/api/v1/workspaces")
    names = [w["name"] for w in r.json()["workspaces"]] if r.status == 200 else []
    for name in names:
        b.delete(f"/api/v1/workspaces/{name}")
    p = machine.studioctl(FUZZER, "list", "--json")
    left = [w["definition"]["identity"]["name"] for w in json.loads(p.stdout)["workspaces"]] if p.returncode == 0 else []
    for name in left:  # in case the session ended during the run
        machine.studioctl(FUZZER, "delete", name)
    machine.run("userdel", "-r", FUZZER, check=False)


def run_schemathesis(exe: Path, tmp: Path, name: str, *args: str, phases: str = "examples,coverage,fuzzing",
                     timeout: float = 600) -> subprocess.CompletedProcess:
    """Runs schemathesis against the live description with ARGS; its JUnit report goes to the artifacts as NAME.xml."""
    hooks = tmp / "studio_hooks.py"
    hooks.write_text(HOOKS)
    reports = ARTIFACTS / "schemathesis"
    reports.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env.update(SCHEMATHESIS_HOOKS=str(hooks), NO_PROXY="127.0.0.1,localhost", NO_COLOR="1", PYTHONUNBUFFERED="1")
    cmd = [str(exe), "run", f"{DASHBOARD}/api/v1/openapi.json", "--checks", CHECKS, "--workers", "1",
           "--max-examples", "20", "--phases", phases, "--seed", SEED, "--request-timeout", "30",
           "--report", "junit", "--report-junit-path", str(reports / f"{name}.xml"), "--no-color", *args]
    started = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=tmp, stdin=subprocess.DEVNULL)
    p.elapsed = time.monotonic() - started
    print(f"schemathesis took {p.elapsed:.1f}s\n{p.stdout[-3000:]}")
    return p


def outcome(p: subprocess.CompletedProcess) -> str:
    return (f"schemathesis exited {p.returncode} after {p.elapsed:.0f}s\n"
            f"--- stdout ---\n{p.stdout[-20000:]}\n--- stderr ---\n{p.stderr[-5000:]}")


def test_served_description_is_the_trees(machine: Machine):
    tree = json.loads(SPEC.read_text())
    r = Browser().get("/api/v1/openapi.json")
    assert r.status == 200, r
    assert "application/json" in (r.header("Content-Type") or ""), r
    assert r.json() == tree, "GET /api/v1/openapi.json is not web/openapi.json of this tree"
    installed = machine.run("cat", INSTALLED_SPEC).stdout
    assert json.loads(installed) == tree, f"{INSTALLED_SPEC} is not web/openapi.json of this tree"


def test_api_does_what_its_description_says(schemathesis: Path, fuzzer: Browser, tmp_path: Path):
    excluded = [a for path in EXCLUDED for a in ("--exclude-path", path)]
    p = run_schemathesis(schemathesis, tmp_path, "api", "-H", f"Cookie: {SESSION_COOKIE}={fuzzer.session}",
                         "-H", f"Origin: {DASHBOARD}", *excluded)
    assert p.returncode == 0, outcome(p)
    assert "passed" in p.stdout and " 0 passed" not in p.stdout, f"schemathesis ran no test case:\n{outcome(p)}"
    r = fuzzer.get("/api/v1/session")
    assert r.status == 200, f"the fuzzer's session did not survive the run: {r!r}"


def test_login_answers_malformed_bodies_as_documented(schemathesis: Path, tmp_path: Path):
    # Negative mode only: bodies that are not {"username": string, "password": string}; and not the examples phase,
    # whose example is a valid login. Valid ones are real PAM attempts that count toward the per-address limit (test_74
    # checks those by hand); the few that negative mode still sends (a valid body under another Content-Type) carry
    # the user name the hook gives them, of no account.
    p = run_schemathesis(schemathesis, tmp_path, "login", "-H", f"Origin: {DASHBOARD}", "--mode", "negative",
                         "--include-path", "/api/v1/login", phases="coverage,fuzzing")
    assert p.returncode == 0, outcome(p)
    assert "passed" in p.stdout and " 0 passed" not in p.stdout, f"schemathesis ran no test case:\n{outcome(p)}"
