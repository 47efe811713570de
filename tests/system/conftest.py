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
