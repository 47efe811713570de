"""On a real kernel (cgroup v2 only): studio-idled reads a workspace's CPU work from the kernel's counter for its
cgroup, the figure systemd reports as CPUUsageNSec, and a detached CPU-bound job with nobody connected counts as
work. (The booted nspawn machine of the system tests covers the other measure, the processes' own times.)"""

from __future__ import annotations

import json
import time

from vm import ALICE, VM, explain


def idle(vm: VM, name: str) -> dict:
    p = vm.studioctl(ALICE, "status", name, "--json")
    assert p.returncode == 0, explain(p)
    return json.loads(p.stdout).get("idle") or {}


def test_a_detached_busy_job_is_work_measured_by_the_cgroup(vm: VM, workspace, facts):
    w = workspace("work")
    w.start()
    p = vm.studioctl(ALICE, "set", "work", "--idle-timeout", "1min")
    assert p.returncode == 0, explain(p)
    quiet = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not quiet:
        quiet = idle(vm, "work") or None
        time.sleep(1)
    assert quiet, "studio-idled never reported on the workspace"
    assert quiet["cpuMeasure"] == "cgroup" and quiet["busy"] is False and quiet["keptBy"] == "started", quiet

    p = w.exec("sh", "-c", 'setsid -f sh -c "while :; do :; done" </dev/null >/dev/null 2>&1')
    assert p.returncode == 0, explain(p)
    busy = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = idle(vm, "work")
        if state.get("busy"):
            busy = state
            break
        time.sleep(1)
    facts["idle_work"] = busy or idle(vm, "work")
    assert busy, f"studio-idled did not see the busy loop as work within 60 s: {idle(vm, 'work')}"
    assert busy["keptBy"] == "work" and busy["cpuMeasure"] == "cgroup", busy
    assert busy["stopAt"] >= busy["lastWork"] + 60 - 1, busy
    w.exec("pkill", "-f", "while :")
    vm.studioctl(ALICE, "delete", "work")
