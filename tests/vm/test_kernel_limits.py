"""What only a real kernel shows: a workspace's limits enforced by cgroup v2, seen by the user and in the kernel.

The nspawn tier (tests/system/test_70_limits.py) checks that systemd has the limits; there the host's cgroup v1
controllers are read-only and nothing is enforced. Here the VM runs its own kernel with the unified hierarchy.
Every workspace is alice's and has its own project directory; the tests run in file order.
"""

from __future__ import annotations

import json
import time

import pytest

from vm import ALICE, VM, explain, poll

MiB = 2**20


def test_cgroup_v2_is_in_force(vm: VM, facts):
    assert vm.run("stat", "-fc", "%T", "/sys/fs/cgroup").stdout.strip() == "cgroup2fs", \
        "the VM's /sys/fs/cgroup is not the unified hierarchy"
    controllers = vm.read("/sys/fs/cgroup/cgroup.controllers").split()
    assert {"memory", "pids", "cpu"} <= set(controllers), f"controllers: {controllers}"

    mem_total = next(int(line.split()[1]) * 1024 for line in vm.read("/proc/meminfo").splitlines()
                     if line.startswith("MemTotal:"))
    slice_max = vm.unit("studio.slice")["MemoryMax"]
    facts["studio.slice"] = {"MemoryMax": slice_max, "MemTotal": mem_total}
    assert slice_max.isdigit() and 0 < int(slice_max) < mem_total, \
        f"studio.slice MemoryMax={slice_max}: want a finite cap below the VM's {mem_total} bytes of RAM"


# --- memory -------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lim(workspace):
    """alice's workspace "lim" with --memory 256M, started once for the module."""
    w = workspace("lim")
    w.start("--memory", "256M")
    return w


@pytest.fixture
def lim_running(vm: VM, lim, facts):
    """"lim", running: started again (and recorded) if an earlier test left it stopped."""
    u = vm.unit(lim.unit)
    if u["ActiveState"] != "active":
        facts.setdefault("lim_restarted_before", []).append(f"{u['ActiveState']}/{u['SubState']} Result={u['Result']}")
        lim.start(fresh=False)
    return lim


def test_memory_max_is_in_the_kernel_and_status_reports_usage(vm: VM, lim_running, facts):
    lim = lim_running
    u = vm.unit(lim.unit)
    assert u["ControlGroup"] == lim.cgroup.removeprefix("/sys/fs/cgroup"), u["ControlGroup"]
    assert lim.cg("memory.max") == "268435456", f"{lim.cgroup}/memory.max"
    # The slice's cap is in the kernel too, now that a workspace made systemd realize it.
    assert vm.read("/sys/fs/cgroup/studio.slice/memory.max").strip() == vm.unit("studio.slice")["MemoryMax"]

    # memory.current read just before and just after `studioctl status --json`, in one go inside the VM.
    p = vm.sh('cat "$1/memory.current"; studioctl status lim --json; rc=$?; cat "$1/memory.current"; exit $rc',
              lim.cgroup, user=ALICE)
    lines = p.stdout.splitlines()
    before, after = int(lines[0]), int(lines[-1])
    status = json.loads("\n".join(lines[1:-1]))
    reported = (status.get("unitStatus") or {}).get("memoryCurrentBytes")
    facts["status_memory"] = {"cgroup_before": before, "status": reported, "cgroup_after": after}
    assert status["limits"]["memoryMaxBytes"] == 268435456, status["limits"]
    assert isinstance(reported, int), f"status --json has no unitStatus.memoryCurrentBytes:\n{p.stdout}"
    kernel = (before + after) / 2
    assert abs(reported - kernel) <= 0.10 * kernel, \
        f"studioctl status says {reported} bytes, the cgroup's memory.current {before} then {after}"


def test_oom_kill_ends_the_process_not_the_workspace(vm: VM, lim_running, workspace, facts):
    lim = lim_running
    bystander = workspace("bystander")
    bystander.start("--memory", "256M")
    bystander_before = vm.unit(bystander.unit)
    before = vm.unit(lim.unit)
    p = lim.exec("python3", "-c", "x = bytearray(400 * 2**20)", timeout=300)
    after = vm.unit(lim.unit)
    events = vm.run("cat", f"{lim.cgroup}/memory.events", check=False)
    oom_kills = None
    if events.returncode == 0:
        oom_kills = dict(line.split() for line in events.stdout.splitlines()).get("oom_kill")
    later = lim.exec("true", timeout=60)
    kernel_log = vm.run("journalctl", "-k", "-b", "--no-pager", "-o", "cat", "--grep", "Killed process|oom_memcg=",
                        check=False).stdout
    seen = {
        "exec_exit_status": p.returncode,
        "exec_stderr": p.stderr.strip()[-500:],
        "unit_after": {k: after.get(k) for k in ("ActiveState", "SubState", "Result", "MainPID", "OOMPolicy", "NRestarts")},
        "main_pid_before": before["MainPID"],
        "memory_events_oom_kill": oom_kills if events.returncode == 0 else f"(no cgroup: {events.stderr.strip()})",
        "later_exec_exit_status": later.returncode,
        "later_exec_stderr": later.stderr.strip()[-500:],
        "kernel_log": kernel_log.strip().splitlines()[-4:],
    }
    facts["oom"] = seen

    problems = []
    if p.returncode != 137:
        problems.append(f"the allocating command should be SIGKILLed (studioctl exec exits 137):\n{explain(p)}")
    if after["ActiveState"] != "active" or after["MainPID"] != before["MainPID"]:
        problems.append(f"the workspace should live on (OOMPolicy=continue): {lim.unit} is now "
                        f"{after['ActiveState']}/{after['SubState']} Result={after['Result']} MainPID "
                        f"{before['MainPID']} -> {after['MainPID']}, OOMPolicy={after.get('OOMPolicy')}")
    if oom_kills is None or int(oom_kills) < 1:
        problems.append(f"memory.events of {lim.cgroup} should count the kill: {seen['memory_events_oom_kill']}")
    if later.returncode != 0:
        problems.append(f"a later exec should work:\n{explain(later)}")
    # The user sees it: studioctl status counts it, studioctl logs has systemd's word on it.
    status = json.loads(vm.studioctl(ALICE, "status", lim.name, "--json").stdout)["unitStatus"]
    text = vm.studioctl(ALICE, "status", lim.name).stdout
    logs = vm.studioctl(ALICE, "logs", lim.name, "-n", "200").stdout
    seen.update(status_oom_kills=status.get("oomKills"), status_text=text, logs_tail=logs.strip().splitlines()[-5:])
    if status.get("oomKills") != int(oom_kills or -1):
        problems.append(f"studioctl status --json should count the kill as the kernel does: {status.get('oomKills')} vs {oom_kills}")
    if "oom       1 process killed for passing the memory limit" not in text:
        problems.append(f"studioctl status should say a process was killed:\n{text}")
    if "OOM killer" not in logs:
        problems.append(f"studioctl logs should show systemd's message about the OOM kill:\n{logs[-2000:]}")
    # Everything else lives on: another workspace, and Studio's own daemons.
    bystander_after = vm.unit(bystander.unit)
    if (bystander_after["ActiveState"], bystander_after["MainPID"]) != ("active", bystander_before["MainPID"]):
        problems.append(f"another workspace was affected: {bystander_after['ActiveState']} MainPID "
                        f"{bystander_before['MainPID']} -> {bystander_after['MainPID']}")
    daemons = vm.run("systemctl", "is-active", "studiod.socket", "studio-sandbox.socket", "studio-idled.service",
                     check=False).stdout.split()
    if daemons != ["active", "active", "active"]:
        problems.append(f"Studio's daemons should live on: {daemons}")
    vm.studioctl(ALICE, "delete", "bystander", timeout=60)
    if f"oom_memcg={lim.cgroup.removeprefix('/sys/fs/cgroup')}," not in kernel_log or "(python3)" not in kernel_log:
        problems.append(f"the kernel should log an OOM kill of python3 inside the workspace's cgroup:\n{kernel_log}")
    assert not problems, "\n".join(problems) + "\nobserved: " + json.dumps(seen, indent=1)


# --- tasks --------------------------------------------------------------------------------------------------------

# Forks up to 200 children that each wait (at most 120 s), counting the forks the kernel refuses; prints the counts
# and its cgroup's pids.current as one JSON line, then holds its own slot for argv[2] seconds. Its argv[1] marks
# all of them for pkill. (Python rather than `bash -c 'sleep &' ...`: bash retries a refused fork for 15 s.)
BOMB = r"""
import json, os, signal, sys, time
forked, errors = 0, {}
for i in range(200):
    try:
        pid = os.fork()
    except OSError as e:
        errors[e.strerror] = errors.get(e.strerror, 0) + 1
        continue
    if pid == 0:
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        signal.alarm(120)
        signal.pause()
        os._exit(0)
    forked += 1
cg = open("/proc/self/cgroup").read().strip().split("::", 1)[1]
with open(f"/sys/fs/cgroup{cg}/pids.current") as f:
    current = int(f.read())
print(json.dumps({"forked": forked, "failed": sum(errors.values()), "errors": errors, "pids_current": current}), flush=True)
time.sleep(float(sys.argv[2]))
"""
MARK = "studio-vm-forkbomb"
PATTERN = "studio-vm-fork[b]omb"  # matches MARK, not the pkill/pgrep command line that carries the pattern


def test_fork_bomb_stops_at_tasks_max(vm: VM, workspace, facts):
    w = workspace("tasks")
    w.start("--tasks", "64")
    assert w.cg("pids.max") == "64"
    baseline = int(w.cg("pids.current"))
    out = f"{w.dir}/bomb.out"

    # In the background (the control channel runs one request at a time), so that the workspace stays full.
    vm.sh('studioctl exec tasks -- python3 -c "$1" "$2" 90 >"$3" 2>&1 &', BOMB, MARK, out, user=ALICE)
    try:
        line = poll(lambda: vm.run("head", "-n", "1", out, check=False).stdout.strip(), 120, "the fork bomb's report")
        try:
            report = json.loads(line)
        except ValueError:
            raise AssertionError(f"the fork bomb did not report: {vm.read(out)}") from None
        full = int(w.cg("pids.current"))
        events = w.cg_keyed("pids.events")
        t0 = time.monotonic()
        while_full = w.exec("true", timeout=60)
        facts["tasks"] = {"baseline_pids": baseline, "bomb": report, "pids_current_while_full": full,
                          "pids_events": events,
                          "exec_while_full": {"exit_status": while_full.returncode,
                                              "stderr": while_full.stderr.strip()[-300:],
                                              "seconds": round(time.monotonic() - t0, 2)}}
    finally:
        vm.run("pkill", "-KILL", "-u", ALICE, "-f", PATTERN, user=ALICE, check=False)
    poll(lambda: vm.run("pgrep", "-u", ALICE, "-f", PATTERN, check=False).returncode == 1, 60,
         "the fork bomb's processes to be gone")

    assert report["failed"] > 0 and report["forked"] < 200, f"the kernel refused no fork: {report}"
    assert set(report["errors"]) == {"Resource temporarily unavailable"}, f"forks failed otherwise than EAGAIN: {report}"
    assert report["pids_current"] <= 64 and full <= 64, f"pids.current went past 64: {report}, then {full}"
    assert events.get("max", 0) >= report["failed"], f"pids.events should count the refused forks: {events}"
    after = w.exec("true", timeout=60)
    assert after.returncode == 0, f"once the bomb is killed, exec should work again:\n{explain(after)}"
    facts["tasks"]["pids_current_after_kill"] = int(w.cg("pids.current"))


# --- cpu ----------------------------------------------------------------------------------------------------------

# Runs two busy loops in the workspace for 14 s (self-ending); samples cpu.stat from 3 s to 9 s after the start.
CPU_SAMPLE = r"""
cg=$1
studioctl exec cpu -- python3 -c '
import os, time
os.fork()
end = time.monotonic() + 14
while time.monotonic() < end:
    pass
' &
sleep 3
stat() { awk -v k="$1" '$1 == k {print $2}' "$cg/cpu.stat"; }
u0=$(stat usage_usec) th0=$(stat nr_throttled) t0=$EPOCHREALTIME
sleep 6
u1=$(stat usage_usec) th1=$(stat nr_throttled) t1=$EPOCHREALTIME
wait
printf '{"u0": %s, "u1": %s, "t0": %s, "t1": %s, "throttled0": %s, "throttled1": %s}\n' "$u0" "$u1" "$t0" "$t1" "$th0" "$th1"
"""


def test_cpu_quota_holds_a_busy_workspace_to_half_a_cpu(vm: VM, workspace, facts):
    w = workspace("cpu")
    w.start("--cpus", "0.5")
    assert w.cg("cpu.max") == "50000 100000"
    p = vm.sh(CPU_SAMPLE, w.cgroup, user=ALICE, timeout=120)
    s = json.loads(p.stdout.strip().splitlines()[-1])
    rate = (s["u1"] - s["u0"]) / 1e6 / (s["t1"] - s["t0"])
    facts["cpu"] = dict(s, cpu_seconds_per_second=round(rate, 3))
    assert 0.35 <= rate <= 0.65, f"two busy loops under --cpus 0.5 got {rate:.3f} CPU-seconds per second: {s}"
    assert s["throttled1"] > s["throttled0"], f"the kernel did not throttle the workspace: {s}"


# --- set ----------------------------------------------------------------------------------------------------------

def test_set_memory_changes_memory_max_at_once(vm: VM, workspace, facts):
    w = workspace("setw")
    w.start("--memory", "512M")
    assert w.cg("memory.max") == str(512 * MiB)
    before = vm.unit(w.unit)
    # The cgroup file read right after studioctl returns, in the same command: no restart, no delay.
    p = vm.sh('studioctl set setw --memory 128M || exit; cat "$1/memory.max"', w.cgroup, user=ALICE)
    facts["set"] = {"output": p.stdout.strip()}
    assert p.stdout.strip().splitlines()[-1] == str(128 * MiB), f"memory.max after studioctl set:\n{explain(p)}"
    after = vm.unit(w.unit)
    assert (after["ActiveState"], after["MainPID"]) == ("active", before["MainPID"]), \
        f"set restarted or stopped the workspace: {before['MainPID']} -> {after['ActiveState']} {after['MainPID']}"
