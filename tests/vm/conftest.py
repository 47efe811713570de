"""VM tests: the built .deb installed with apt into a Debian bookworm VM with its own kernel (qemu, cgroup v2).

One VM (`studio-vm`) per session, booted by tests/vm/vm.sh. It is always torn down: by the fixture's
finalizer, and should that not run (SIGTERM, SIGHUP, an error inside pytest), by an atexit hook; run.sh's
trap is the last resort. When a test fails, the VM's journal and console log are kept in $STUDIO_TEST_ARTIFACTS
(default /tmp/studio-vm-tests) before the VM goes. What the tests observed (facts.json) is kept there always.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from vm import ALICE, BASE, NAME, VM, CommandFailed, explain

ARTIFACTS = Path(os.environ.get("STUDIO_TEST_ARTIFACTS", "/tmp/studio-vm-tests"))
DEB_IN_VM = "/var/tmp/studio.deb"  # where vm.sh up puts the .deb
PROJ = f"/home/{ALICE}/proj"

_state: dict = {"up": False, "failed": False, "saved": None, "timings": [], "facts": {}}


def _teardown() -> None:
    """Power off and remove the VM, once. Safe to call from atexit and finalizers alike."""
    if not _state["up"]:
        return
    _state["up"] = False
    proc = VM(NAME).down()
    if proc.returncode != 0:
        print(f"vm.sh down {NAME} failed:\n{proc.stderr}")


def _on_signal(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")  # unwind through pytest, which finalizes the fixtures


def _save_artifacts(v: VM) -> Path | None:
    """Keep the VM's journal and console log for a person to read after the VM is gone."""
    try:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for fmt, name in (("short-precise", "journal.txt"), ("json", "journal.json")):
            out = v.run("journalctl", "-b", "--no-pager", "-o", fmt, check=False, timeout=120).stdout
            (ARTIFACTS / name).write_text(out)
        console = BASE / "logs" / f"{NAME}.console.log"
        if console.exists():
            shutil.copyfile(console, ARTIFACTS / "console.log")
        return ARTIFACTS
    except Exception as e:  # diagnostics only; never mask the real result
        print(f"could not save the journal: {e}")
        return None


@pytest.fixture(scope="session")
def facts() -> dict:
    """Observations worth keeping whatever the outcome (the report's raw material): facts[key] = value.
    Written to $STUDIO_TEST_ARTIFACTS/facts.json at the end of the session."""
    return _state["facts"]


def record(key: str, value) -> None:
    _state["facts"][key] = value


def timing(what: str, seconds: float) -> None:
    _state["timings"].append((what, seconds))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    if outcome.get_result().failed:
        _state["failed"] = True


@pytest.fixture(scope="session")
def vm(request) -> VM:
    """A booted VM with $STUDIO_DEB installed with apt, user alice with the project directory PROJ."""
    deb = os.environ.get("STUDIO_DEB", "")
    if not deb:
        pytest.fail("STUDIO_DEB is not set: point it at the .deb to test (tests/vm/run.sh DEB does)", pytrace=False)
    if not Path(deb).is_file():
        pytest.fail(f"STUDIO_DEB={deb}: no such file (build it with: make deb)", pytrace=False)
    record("deb", {"path": deb, "sha256": hashlib.sha256(Path(deb).read_bytes()).hexdigest()})

    v = VM(NAME)
    atexit.register(_teardown)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    _state["up"] = True

    def finish() -> None:
        if _state["up"] and _state["failed"]:
            _state["saved"] = _save_artifacts(v)
        _teardown()

    request.addfinalizer(finish)

    error = None
    try:
        t0 = time.monotonic()
        v.up(deb)  # also takes down leftovers of an earlier, killed run
        timing("vm.sh up (disk image + boot until running)", time.monotonic() - t0)
        # The tree carries the package lists, so apt can say what the .deb would pull in; it must be nothing
        # (the VM has no network).
        plan = v.run("apt-get", "install", "-s", "-y", "--no-download", DEB_IN_VM).stdout
        extra = [line.split()[1] for line in plan.splitlines() if line.startswith("Inst ") and line.split()[1] != "studio"]
        if extra:
            pytest.fail(f"the .deb needs packages the VM tree lacks: {extra}; add them to INCLUDE in vm.sh", pytrace=False)
        t0 = time.monotonic()
        v.run("apt-get", "install", "-y", "-q", "-o", "Dpkg::Use-Pty=0", DEB_IN_VM, timeout=600)
        timing("apt-get install studio.deb", time.monotonic() - t0)
        v.run("useradd", "-m", "-s", "/bin/bash", ALICE)
        v.run("mkdir", "-p", PROJ, user=ALICE)
    except CommandFailed as e:
        error = e
    if error:
        _state["failed"] = True
        pytest.fail(f"could not set up the test VM:\n{error}", pytrace=False)
    record("kernel", v.run("uname", "-r").stdout.strip())
    record("cmdline", v.read("/proc/cmdline").strip())
    return v


class Workspace:
    """One of alice's workspaces: its name, unit, cgroup directory (on the VM's /sys/fs/cgroup)."""

    def __init__(self, v: VM, name: str):
        self.vm, self.name = v, name
        self.unit = f"studio-ws-{ALICE}-{name}.service"
        self.cgroup = f"/sys/fs/cgroup/studio.slice/studio-{ALICE}.slice/{self.unit}"
        self.dir = f"/home/{ALICE}/{name}"

    def start(self, *limits: str, fresh: bool = True) -> None:
        """`studioctl start NAME LIMITS...` as alice in the workspace's own project directory (made here).
        fresh: delete the workspace first if it exists (start keeps a stored workspace's limits), so that a test
        gets what it asks for even when it runs again in the same VM."""
        if fresh:
            self.vm.studioctl(ALICE, "delete", self.name)  # fails harmlessly when there is none
        self.vm.run("mkdir", "-p", self.dir, user=ALICE)
        p = self.vm.studioctl(ALICE, "start", self.name, *limits, cwd=self.dir)
        assert p.returncode == 0, f"could not start workspace {self.name}:\n{explain(p)}"
        u = self.vm.unit(self.unit)
        assert u["ActiveState"] == "active", f"{self.unit} is {u['ActiveState']}/{u['SubState']} after studioctl start"

    def exec(self, *argv: str, timeout: float = 120):
        return self.vm.studioctl(ALICE, "exec", self.name, "--", *argv, timeout=timeout)

    def cg(self, file: str) -> str:
        """A file of the workspace's cgroup, as the kernel has it now."""
        return self.vm.read(f"{self.cgroup}/{file}").strip()

    def cg_keyed(self, file: str) -> dict[str, int]:
        """A flat-keyed cgroup file (memory.events, cpu.stat, pids.events) as a dict."""
        return {k: int(v) for k, v in (line.split() for line in self.cg(file).splitlines())}


@pytest.fixture(scope="session")
def workspace(vm: VM):
    """Makes Workspace objects: workspace(name)."""
    return lambda name: Workspace(vm, name)


def pytest_report_header(config):
    return [f"STUDIO_DEB={os.environ.get('STUDIO_DEB', '(unset)')}", f"VM: {NAME} (tests/vm/vm.sh, qemu -accel tcg)"]


def pytest_terminal_summary(terminalreporter):
    if _state["timings"]:
        terminalreporter.write_sep("-", "VM timings (measured on the host)")
        for what, seconds in _state["timings"]:
            terminalreporter.write_line(f"{seconds:7.1f} s  {what}")
    try:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        facts = dict(_state["facts"], timings=dict((w, round(s, 2)) for w, s in _state["timings"]))
        (ARTIFACTS / "facts.json").write_text(json.dumps(facts, indent=2, sort_keys=True) + "\n")
        terminalreporter.write_line(f"what the tests observed: {ARTIFACTS}/facts.json")
    except OSError:
        pass
    if _state["saved"]:
        terminalreporter.write_line(f"the VM's journal and console: {_state['saved']}/journal.txt, console.log")
