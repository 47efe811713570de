"""System tests: the built .deb installed with apt into a Debian machine booted under systemd-nspawn -b.

One machine (`studio-test`) per session. It is always torn down: by the fixture's finalizer, and should that
not run (SIGTERM, SIGHUP, an error inside pytest), by an atexit hook. Ctrl-C is a KeyboardInterrupt, after
which pytest still finalizes session fixtures.

The test files run in name order (test_10_… to test_99_…); test_99_purge.py removes the package and must run last.
"""

from __future__ import annotations

import atexit
import os
import signal
from pathlib import Path

import pytest

from machine import NAME, TEST_DROPIN, CommandFailed, Machine, host_listeners, run_testbed

TEST_CONFIG = "[Server]\nIdleExitSec=3s\n"
ARTIFACTS = Path(os.environ.get("STUDIO_TEST_ARTIFACTS", "/tmp/studio-system-tests"))

_state: dict = {"up": False, "journal": None}


def _teardown() -> None:
    """Power off and remove the machine, once. Safe to call from atexit and finalizers alike."""
    if not _state["up"]:
        return
    _state["up"] = False
    proc = run_testbed("down", NAME, check=False, timeout=120)
    if proc.returncode != 0:
        print(f"testbed.sh down {NAME} failed:\n{proc.stderr}")


def _on_signal(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")  # unwind through pytest, which finalizes the fixtures


def _save_journal(m: Machine) -> Path | None:
    """Keep the machine's journal for a person to read after the machine is gone."""
    try:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for fmt, name in (("short-precise", "journal.txt"), ("json", "journal.json")):
            out = m.run("journalctl", "-b", "--no-pager", "-o", fmt, check=False, timeout=60).stdout
            (ARTIFACTS / name).write_text(out)
        return ARTIFACTS
    except Exception as e:  # diagnostics only; never mask the real result
        print(f"could not save the journal: {e}")
        return None


@pytest.fixture(scope="session")
def machine(request) -> Machine:
    """A booted machine with $STUDIO_DEB installed, user alice, and IdleExitSec=3s configured before first use."""
    deb = os.environ.get("STUDIO_DEB", "")
    if not deb:
        pytest.fail("STUDIO_DEB is not set: point it at the .deb to test (tests/system/run.sh DEB does)", pytrace=False)
    if not Path(deb).is_file():
        pytest.fail(f"STUDIO_DEB={deb}: no such file (build it with packaging/build-deb.sh out)", pytrace=False)

    m = Machine(NAME)
    run_testbed("down", NAME, timeout=120)  # leftovers of an earlier, killed run
    busy = host_listeners()
    if busy:
        pytest.fail(f"something on the host already listens on port 7080 (is studio-demo up?):\n{busy}", pytrace=False)

    atexit.register(_teardown)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    _state["up"] = True

    def finish() -> None:
        if _state["up"]:
            _state["journal"] = _save_journal(m)
        _teardown()

    request.addfinalizer(finish)

    error = None
    try:
        m.up()
        m.install(deb)
    except CommandFailed as e:
        error = e
    if error:
        pytest.fail(f"could not set up the test machine:\n{error}", pytrace=False)

    m.run("useradd", "-m", "-s", "/bin/bash", "alice")

    # The quiet period must be short for the tests, and studiod must read it at its first start. Record
    # whether anything started it already (test_10 reports it), and stop it so the setting applies.
    m.facts = {"studiod_after_install": m.unit("studiod.service")}
    if m.facts["studiod_after_install"]["ActiveState"] != "inactive":
        m.run("systemctl", "stop", "studiod.service")
    m.run("mkdir", "-p", str(Path(TEST_DROPIN).parent))
    m.run("sh", "-c", f"cat > {TEST_DROPIN}", input=TEST_CONFIG)
    return m


@pytest.fixture(scope="session")
def studio_uid(machine: Machine) -> int:
    return int(machine.run("id", "-u", "studio").stdout)


def pytest_report_header(config):
    return [f"STUDIO_DEB={os.environ.get('STUDIO_DEB', '(unset)')}", f"machine: {NAME} (tests/system/testbed.sh)"]


def pytest_terminal_summary(terminalreporter):
    if _state["journal"]:
        terminalreporter.write_line(f"the test machine's journal: {_state['journal']}/journal.txt (and journal.json)")


# --- Workspaces (tests 50-98) ------------------------------------------------------------------------------------

from machine import ALICE, BOB, TIMINGS, explain, ws_unit  # noqa: E402

PROJ = "/home/alice/proj"  # alice's project directory; her workspace "proj" is made from it


@pytest.fixture(scope="session")
def users(machine: Machine) -> dict[str, int]:
    """alice (made by `machine`) and bob, ordinary users with home directories; their uids by name.
    alice gets the project directory PROJ, with a file in it."""
    if machine.run("id", "-u", BOB, check=False).returncode != 0:
        machine.run("useradd", "-m", "-s", "/bin/bash", BOB)
    machine.run("sh", "-c", f"mkdir -p {PROJ} && echo 'hello from the project' > {PROJ}/README", user=ALICE)
    return {u: int(machine.run("id", "-u", u).stdout) for u in (ALICE, BOB)}


@pytest.fixture(scope="session")
def first_start(machine: Machine, users: dict[str, int]):
    """alice's first `studioctl start proj` in PROJ (creates the workspace), as it went: the CompletedProcess,
    with .elapsed. Tests that need the workspace running use `proj` instead."""
    p = machine.studioctl(ALICE, "start", "proj", cwd=PROJ, timeout=120)
    if p.elapsed is not None:
        TIMINGS.append(("studioctl start proj (first: creates it)", p.elapsed))
    return p


@pytest.fixture
def proj(machine: Machine, first_start) -> dict[str, str]:
    """alice's workspace "proj", running (started again if an earlier test left it stopped); its unit's properties."""
    unit = ws_unit(ALICE, "proj")
    if machine.unit(unit).get("ActiveState") != "active":
        p = machine.studioctl(ALICE, "start", "proj", cwd=PROJ)
        assert p.returncode == 0, f"could not get alice's workspace running for this test:\n{explain(p)}"
    u = machine.unit(unit)
    assert u["ActiveState"] == "active", f"{unit} is {u['ActiveState']}/{u['SubState']} after studioctl start"
    return u


# --- Images (test_88 and the container tests) ---------------------------------------------------------------------

IMAGES = "/var/lib/machines"  # where images are (systemd's place)


@pytest.fixture(scope="session")
def built_image(machine: Machine) -> dict:
    """The image `built`, made once per session as an admin makes one: `studioctl image build built --suite bookworm
    --variant minbase` as root (debootstrap from the network inside the machine, 30-60 s). Yields {"name": "built",
    "path": "/var/lib/machines/built", "build": the CompletedProcess (with .elapsed)}; fails the tests that use it,
    with studioctl's output, if the build did not succeed."""
    p = machine.studioctl("root", "image", "build", "built", "--suite", "bookworm", "--variant", "minbase", timeout=900)
    if p.elapsed is not None:
        TIMINGS.append(("studioctl image build built (bookworm minbase, debootstrap)", p.elapsed))
    if p.returncode != 0:
        pytest.fail(f"could not build the test image `built`:\n{explain(p)}", pytrace=False)
    return {"name": "built", "path": f"{IMAGES}/built", "build": p}


@pytest.fixture(scope="session")
def hand_image(machine: Machine, built_image: dict) -> dict:
    """The image `byhand`: a tree put into /var/lib/machines without studioctl (`cp -a` of `built`), as an admin
    who makes images with their own tools would. Yields {"name": "byhand", "path": "/var/lib/machines/byhand"}."""
    path = f"{IMAGES}/byhand"
    machine.run("cp", "-a", "--", built_image["path"], path, timeout=300)
    return {"name": "byhand", "path": path}


class _TimingReport:
    """Prints the measured studioctl times at the end of the run and keeps them with the journal."""

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter):
        if not TIMINGS:
            return
        lines = [f"{seconds * 1000:8.1f} ms  {what}" for what, seconds in TIMINGS]
        terminalreporter.write_sep("-", "studioctl timings (measured inside the machine)")
        for line in lines:
            terminalreporter.write_line(line)
        try:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            (ARTIFACTS / "timings.txt").write_text("\n".join(lines) + "\n")
        except OSError:
            pass


def pytest_configure(config):
    config.pluginmanager.register(_TimingReport(), "studio-timing-report")
