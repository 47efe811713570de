"""On a real kernel: workspaces share a contended CPU by their CPUWeight, studio.slice's total memory cap holds when
several workspaces together push past it, and what studioctl reports is what the kernel counts."""

from __future__ import annotations

import json
import time

from vm import ALICE, VM, explain

MiB = 2**20
TEMPLATES = "/etc/studio/templates"

# Busy-loops on CPU 0 for $1 seconds in each workspace NAME:CGROUP of $2... at once (as their owner, through studioctl
# exec), sampling each cgroup's cpu.stat usage_usec around a window inside the run. Prints one JSON object:
# {cgroup: CPU-microseconds used in the window}.
CONTEND = r"""
secs=$1; shift
for pair in "$@"; do
    studioctl exec "${pair%%:*}" -- timeout "$secs" taskset -c 0 sh -c 'while :; do :; done' >/dev/null 2>&1 &
done
set -- "${@#*:}"
sleep 2   # let every loop get going
usage() { awk '$1 == "usage_usec" {print $2}' "$1/cpu.stat"; }
declare -A u0
for w in "$@"; do u0[$w]=$(usage "$w"); done
sleep 4
sep=''
printf '{'
for w in "$@"; do printf '%s"%s": %s' "$sep" "$w" "$(( $(usage "$w") - ${u0[$w]} ))"; sep=', '; done
printf '}\n'
wait
"""


def cgroup_of(unit: str) -> str:
    return f"/sys/fs/cgroup/studio.slice/studio-{ALICE}.slice/{unit}"


def test_cpu_weight_shares_a_contended_cpu(vm: VM, workspace, facts):
    """Two workspaces, both busy on the same CPU: the one whose template gives CPUWeight=300 gets about three times
    the CPU of the one with CPUWeight=100."""
    vm.write_file(f"{TEMPLATES}/heavy.conf", "[Template]\nDescription=weight 300\n[Limits]\nCPUWeight=300\n")
    vm.write_file(f"{TEMPLATES}/light.conf", "[Template]\nDescription=weight 100\n[Limits]\nCPUWeight=100\n")
    try:
        heavy, light = workspace("heavy"), workspace("light")
        heavy.start("--template", "heavy")
        light.start("--template", "light")
        assert (heavy.cg("cpu.weight"), light.cg("cpu.weight")) == ("300", "100")
        p = vm.sh(CONTEND, "8", f"heavy:{heavy.cgroup}", f"light:{light.cgroup}", user=ALICE, timeout=180)
        used = json.loads(p.stdout.strip().splitlines()[-1])
        h, l = used[heavy.cgroup] / 1e6, used[light.cgroup] / 1e6
        facts["cpu_weight"] = {"heavy_cpu_s": h, "light_cpu_s": l}
        assert l > 0.1, f"the light workspace got no CPU at all ({l:.2f} s): {used}"
        assert 2.0 <= h / l <= 4.5, f"CPUWeight 300 vs 100 on one CPU gave {h:.2f} s vs {l:.2f} s (ratio {h / l:.2f})"
    finally:
        for name in ("heavy", "light"):
            vm.studioctl(ALICE, "delete", name, timeout=60)
        vm.run("rm", "-f", f"{TEMPLATES}/heavy.conf", f"{TEMPLATES}/light.conf")


# Allocates and touches argv[1] MiB, says so, and holds it until killed.
HOLD = r"""
import sys, time
x = b"x" * (int(sys.argv[1]) << 20)
print("holding", flush=True)
time.sleep(60)
"""


def test_the_slice_caps_all_workspaces_together(vm: VM, workspace, facts):
    """Each workspace stays under its own 256M, but three together ask for 600M: with studio.slice capped at 400M
    (as an administrator caps it: `systemctl set-property studio.slice MemoryMax=`), the kernel kills inside the
    slice, and the slice never holds more than its cap."""
    vm.run("systemctl", "set-property", "--runtime", "studio.slice", "MemoryMax=400M")
    names = ("sa", "sb", "sc")
    try:
        assert vm.read("/sys/fs/cgroup/studio.slice/memory.max").strip() == str(400 * MiB)
        kills0 = dict(line.split() for line in vm.read("/sys/fs/cgroup/studio.slice/memory.events").splitlines())
        for name in names:
            workspace(name).start("--memory", "256M")
        vm.write_file(f"/home/{ALICE}/hold.py", HOLD)  # not /var/tmp: that is private to each workspace
        script = "for w in " + " ".join(names) + """; do
            studioctl exec "$w" -- python3 ~/hold.py 200 >/dev/null 2>&1 &
        done
        peak=0
        for i in $(seq 60); do
            c=$(cat /sys/fs/cgroup/studio.slice/memory.current); [ "$c" -gt "$peak" ] && peak=$c
            sleep 0.25
        done
        echo "peak $peak"
        for w in """ + " ".join(names) + """; do studioctl exec "$w" -- pkill -f '^python3 ' >/dev/null 2>&1; done
        wait
        """
        p = vm.sh(script, user=ALICE, timeout=240)
        peak = int(p.stdout.split("peak ")[-1].split()[0])
        kills1 = dict(line.split() for line in vm.read("/sys/fs/cgroup/studio.slice/memory.events").splitlines())
        facts["slice_cap"] = {"peak_bytes": peak, "oom_kill_before": kills0.get("oom_kill"), "oom_kill_after": kills1.get("oom_kill")}
        assert peak <= 400 * MiB, f"studio.slice held {peak / MiB:.0f} MiB, above its 400M cap"
        assert int(kills1["oom_kill"]) > int(kills0["oom_kill"]), f"no OOM kill inside studio.slice: {kills0} -> {kills1}"
        for name in names:
            u = vm.unit(f"studio-ws-{ALICE}-{name}.service")
            assert u["ActiveState"] == "active", f"workspace {name} did not survive the kill: {u['ActiveState']}/{u['Result']}"
    finally:
        for name in names:
            vm.studioctl(ALICE, "delete", name, timeout=60)
        vm.run("systemctl", "set-property", "--runtime", "studio.slice", "MemoryMax=85%")


def test_status_and_list_report_the_kernels_figures(vm: VM, workspace, facts):
    """`studioctl status --json` and `list --json` show the memory, CPU and task figures of the workspace's cgroup."""
    w = workspace("fig")
    w.start("--memory", "512M")
    try:
        p = w.exec("sh", "-c", "sleep 30 & sleep 30 & x=0; while [ $x -lt 20000 ]; do x=$((x+1)); done; echo done")
        assert p.returncode == 0 and "done" in p.stdout, explain(p)
        time.sleep(1)

        def kernel():
            return {"memory": int(w.cg("memory.current")), "cpu_ns": w.cg_keyed("cpu.stat")["usage_usec"] * 1000,
                    "tasks": int(w.cg("pids.current"))}

        # The task count includes threads, which come and go (the agent's worker threads): a reading counts when the
        # kernel's count is the same before and after it and studioctl's agrees; a wrong figure fails every try.
        for attempt in range(5):
            kernel_before = kernel()
            status = json.loads(vm.studioctl(ALICE, "status", "fig", "--json").stdout)["unitStatus"]
            listed = next(x for x in json.loads(vm.studioctl(ALICE, "list", "--json").stdout)["workspaces"]
                          if x["definition"]["identity"]["name"] == "fig")["unitStatus"]
            kernel_after = kernel()
            if status["tasksCurrent"] == listed["tasksCurrent"] == kernel_before["tasks"] == kernel_after["tasks"]:
                break
            time.sleep(1)
        facts["figures"] = {"kernel_before": kernel_before, "status": status, "kernel_after": kernel_after,
                            "attempts": attempt + 1}
        for shown in (status, listed):
            assert shown["tasksCurrent"] == kernel_after["tasks"] == kernel_before["tasks"], (shown, kernel_after)
            lo, hi = sorted((kernel_before["memory"], kernel_after["memory"]))
            assert 0.9 * lo <= shown["memoryCurrentBytes"] <= 1.1 * hi, (shown, kernel_before, kernel_after)
            assert kernel_before["cpu_ns"] - 1e7 <= shown["cpuUsageNanoseconds"] <= kernel_after["cpu_ns"] + 1e7, (
                shown, kernel_before, kernel_after)
        text = vm.studioctl(ALICE, "status", "fig").stdout
        assert "n/a" not in text, f"studioctl status shows n/a on a real kernel:\n{text}"
    finally:
        vm.studioctl(ALICE, "delete", "fig", timeout=60)
