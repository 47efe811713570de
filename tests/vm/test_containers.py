"""A container workspace on a real kernel with the unified cgroup hierarchy: nspawn starts inside the workspace's
transient unit (Delegate=yes gives it the subtree it needs for its payload), the unit's limits are the kernel's for
everything inside the container, and an OOM kill inside ends a process, not the workspace.

The image is /var/lib/machines/built, a plain minbase tree that vm.sh put into the VM (no network here)."""

from __future__ import annotations

import json

import pytest

from vm import ALICE, VM, explain, poll

MiB = 2**20
TEMPLATE = "/etc/studio/templates/vmbox.conf"


@pytest.fixture(scope="module")
def box(vm: VM, workspace, facts):
    vm.run("sh", "-c", f"mkdir -p /etc/studio/templates && printf '[Template]\\nBackend=container\\nImage=built\\n"
                       f"[Limits]\\nMemoryMax=256M\\nTasksMax=64\\n' > {TEMPLATE}")
    w = workspace("vmbox")
    w.start("--template", "vmbox")
    status = json.loads(vm.studioctl(ALICE, "status", "vmbox", "--json").stdout)
    facts["container_status"] = {k: status.get(k) for k in ("state", "backend", "image", "agentPID")}
    return w


def test_nspawn_runs_in_the_units_delegated_cgroup(vm: VM, box):
    u = vm.unit(box.unit)
    assert (u["ActiveState"], u["SubState"], u["Delegate"]) == ("active", "running", "yes"), u
    # nspawn put its payload (the agent and everything inside) in a child cgroup of the unit's own.
    payload = vm.read(f"{box.cgroup}/payload/cgroup.procs").split()
    status = json.loads(vm.studioctl(ALICE, "status", "vmbox", "--json").stdout)
    assert str(status["agentPID"]) in payload, (status["agentPID"], payload)
    assert box.cg("memory.max") == str(256 * MiB)
    assert box.cg("pids.max") == "64"
    out = vm.studioctl(ALICE, "exec", "vmbox", "--", "sh", "-c", "id -un; cat /proc/self/cgroup").stdout
    assert out.splitlines()[0] == ALICE, out


def test_memory_max_holds_inside_and_an_oom_kill_ends_the_process_only(vm: VM, box, facts):
    before = box.cg_keyed("memory.events").get("oom_kill", 0)
    # dd's one 400 MiB buffer cannot fit under the unit's 256 MiB.
    p = vm.studioctl(ALICE, "exec", "vmbox", "--", "dd", "if=/dev/zero", "of=/dev/null", "bs=400M", "count=1", timeout=180)
    facts["container_oom_exec"] = {"rc": p.returncode, "stderr": p.stderr[-300:]}
    assert p.returncode == 137, explain(p)
    assert box.cg_keyed("memory.events")["oom_kill"] >= before + 1
    assert vm.unit(box.unit)["ActiveState"] == "active"
    assert vm.studioctl(ALICE, "exec", "vmbox", "--", "true").returncode == 0


def test_tasks_max_holds_inside(vm: VM, box, facts):
    def refused() -> int:
        # On this kernel (6.1) a refused fork is counted in the pids.events of the cgroup the forking task is in
        # (nspawn's payload, below the unit), not in the one whose limit it hit: sum the unit's subtree.
        out = vm.sh('find "$1" -name pids.events -exec cat {} +', box.cgroup).stdout
        return sum(int(line.split()[1]) for line in out.splitlines() if line.startswith("max "))

    before = refused()
    p = vm.studioctl(ALICE, "exec", "vmbox", "--", "sh", "-c",
                     "for i in $(seq 100); do sleep 20 & done; echo all-started", timeout=180)
    facts["container_tasks"] = {"rc": p.returncode, "stdout": p.stdout[-200:], "stderr": p.stderr[-300:], "refused": refused() - before}
    # dash gives up at the first fork the kernel refuses: exit 2, "Cannot fork".
    assert p.returncode == 2 and "Cannot fork" in p.stderr and "all-started" not in p.stdout, explain(p)
    assert refused() > before, "the kernel counted no refused fork under the unit"
    assert vm.unit(box.unit)["ActiveState"] == "active"
    vm.studioctl(ALICE, "exec", "vmbox", "--root", "--", "sh", "-c", "kill -TERM -1; true")  # all but PID 1 (the agent) and itself


def test_root_inside_is_the_workspaces_range_on_the_host(vm: VM, box):
    status = json.loads(vm.studioctl(ALICE, "status", "vmbox", "--json").stdout)
    base = status["definition"]["uidBase"]
    assert vm.read(f"/proc/{status['agentPID']}/status").split("Uid:")[1].split()[:4] == [str(base)] * 4
    assert vm.studioctl(ALICE, "exec", "vmbox", "--root", "--", "id", "-u").stdout.strip() == "0"


def test_network_private_gives_the_container_a_veth_of_its_own(vm: VM, workspace):
    vm.run("sh", "-c", "printf '[Template]\\nBackend=container\\nImage=built\\nNetwork=private\\n' > /etc/studio/templates/vmnet.conf")
    w = workspace("vmnet")
    try:
        w.start("--template", "vmnet")
        links = [line.split(":")[0].strip() for line in
                 vm.studioctl(ALICE, "exec", "vmnet", "--", "cat", "/proc/net/dev").stdout.splitlines()[2:]]
        assert sorted(links) == ["host0", "lo"], links
        # nspawn's host side of the pair, named after the machine (systemd-networkd, where it runs, would give it
        # an address and masquerade it; this VM has no network at all).
        assert "ve-vmnet" in vm.run("ls", "/sys/class/net").stdout.split()
    finally:
        vm.studioctl(ALICE, "delete", "vmnet")
        vm.run("rm", "-f", "/etc/studio/templates/vmnet.conf")
    assert "ve-vmnet" not in vm.run("ls", "/sys/class/net").stdout.split()


def test_stop_ends_it_cleanly(vm: VM, box):
    p = vm.studioctl(ALICE, "stop", "vmbox")
    assert p.returncode == 0, explain(p)
    u = vm.unit(box.unit)
    assert u["ActiveState"] == "inactive" and u.get("Result", "success") == "success", u
    assert vm.run("findmnt", "-rn", "-o", "TARGET", check=False).stdout.count("/run/studio/ws/") == 0
    vm.studioctl(ALICE, "delete", "vmbox")
    vm.run("rm", "-f", TEMPLATE)
