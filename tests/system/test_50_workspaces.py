"""alice's workspace from a user's seat: start it, see it in systemd and in studioctl, exec, shell, logs."""

import json
import re
import subprocess
import threading
import time

import pytest

from conftest import PROJ
from machine import ALICE, TESTBED, TIMINGS, Machine, explain, on_terminal, poll, show_terminal, timespan_us, ws_unit

UNIT = ws_unit(ALICE, "proj")
GiB = 1024**3
# [Limits] defaults (studio.conf), the default template setting none of its own.
DEFAULT_MEMORY_MAX = 4 * GiB
DEFAULT_CPUS = 2
DEFAULT_TASKS = 4096
DETACH = "\x1cd"  # Ctrl-\ then d (studioctl help shell)


def test_start_creates_and_runs_workspace(machine: Machine, first_start, users):
    p = first_start
    print(f"studioctl start proj took {p.elapsed:.3f}s" if p.elapsed is not None else "no timing")
    assert p.returncode == 0, explain(p)
    assert "proj" in p.stdout and "created" in p.stdout, f"studioctl start should say it created proj:\n{explain(p)}"

    u = machine.unit(UNIT)
    assert (u["ActiveState"], u["SubState"]) == ("active", "running"), (
        f"{UNIT}: {u['ActiveState']}/{u['SubState']} Result={u.get('Result')}")
    assert u["Slice"] == "studio-alice.slice", u["Slice"]
    assert u["User"] == ALICE, u["User"]
    slice_ = machine.unit("studio-alice.slice")
    assert slice_.get("Slice") == "studio.slice", f"studio-alice.slice is in {slice_.get('Slice')!r}, not studio.slice"

    limits = {k: u.get(k) for k in ("MemoryMax", "MemoryHigh", "CPUQuotaPerSecUSec", "CPUWeight", "TasksMax", "IOWeight")}
    assert u["MemoryMax"] == str(DEFAULT_MEMORY_MAX), limits
    assert timespan_us(u["CPUQuotaPerSecUSec"]) == DEFAULT_CPUS * 1e6, limits
    assert u["TasksMax"] == str(DEFAULT_TASKS), limits
    assert u["IOWeight"] == "100", limits
    assert u["CPUWeight"] == "100", limits
    high = int(u["MemoryHigh"]) if u["MemoryHigh"].isdigit() else None
    assert high is not None and 0.89 <= high / DEFAULT_MEMORY_MAX <= 0.91, f"MemoryHigh should be 90% of MemoryMax: {limits}"

    pid = u["MainPID"]
    assert pid != "0", u
    uids = machine.proc_uids(pid)
    assert uids == [str(users[ALICE])] * 4, f"the workspace's main process {pid} has uids {uids}, not alice's {users[ALICE]}"


def test_start_again_says_already_running(machine: Machine, proj):
    p = machine.studioctl(ALICE, "start", "proj", cwd=PROJ)
    assert p.returncode == 0, explain(p)
    assert "already running" in p.stdout, explain(p)
    assert machine.unit(UNIT)["MainPID"] == proj["MainPID"], "a second start must not restart the workspace"
    if p.elapsed is not None:
        TIMINGS.append(("studioctl start proj (already running)", p.elapsed))


def test_list_shows_running_with_limits(machine: Machine, proj):
    p = machine.studioctl(ALICE, "list")
    assert p.returncode == 0, explain(p)
    rows = [line.split() for line in p.stdout.splitlines() if line.split()[:1] == ["proj"]]
    assert len(rows) == 1, f"expected one row for proj:\n{p.stdout}"
    row = rows[0]
    assert "running" in row, f"proj is not shown running:\n{p.stdout}"
    assert PROJ in row, f"proj's row does not show its project directory:\n{p.stdout}"
    assert any(cell == "4G" or cell.endswith("/4G") for cell in row) or "4G" in " ".join(row), p.stdout

    p = machine.studioctl(ALICE, "list", "--json")
    assert p.returncode == 0, explain(p)
    data = json.loads(p.stdout)
    mine = [w for w in data["workspaces"] if w["definition"]["identity"]["name"] == "proj"]
    assert len(mine) == 1, p.stdout
    assert mine[0]["state"] == "running", p.stdout
    assert mine[0]["limits"]["memoryMaxBytes"] == DEFAULT_MEMORY_MAX, p.stdout


def test_status_text_and_json(machine: Machine, proj):
    p = machine.studioctl(ALICE, "status", "proj")
    assert p.returncode == 0, explain(p)
    text = p.stdout
    assert re.search(r"\bproj\b.*\brunning\b", text.splitlines()[0]), f"status headline:\n{text}"
    assert "4G" in text and "4096" in text and re.search(r"\b2 CPUs\b", text), f"status does not show the limits:\n{text}"
    assert UNIT in text, f"status does not name the unit:\n{text}"

    p = machine.studioctl(ALICE, "status", "proj", "--json")
    assert p.returncode == 0, explain(p)
    data = json.loads(p.stdout)
    assert data["state"] == "running", p.stdout
    assert data["unit"] == UNIT, p.stdout
    assert data["definition"]["projectDirectory"] == PROJ, p.stdout
    assert data["limits"]["memoryMaxBytes"] == DEFAULT_MEMORY_MAX, p.stdout
    assert data["limits"]["cpus"] == DEFAULT_CPUS, p.stdout
    assert data["limits"]["tasksMax"] == DEFAULT_TASKS, p.stdout
    assert str(data["unitStatus"]["mainPID"]) == proj["MainPID"], p.stdout


# --- exec -----------------------------------------------------------------------------------------------------------

def test_exec_carries_output_and_exit_code(machine: Machine, proj):
    p = machine.studioctl(ALICE, "exec", "proj", "--", "sh", "-c", "echo out; echo err >&2; exit 7")
    assert p.returncode == 7, explain(p)
    assert p.stdout == "out\n", explain(p)
    assert p.stderr.strip() == "err", explain(p)
    if p.elapsed is not None:
        TIMINGS.append(("studioctl exec proj -- sh -c ...", p.elapsed))


def test_exec_runs_in_project_as_alice_inside_workspace(machine: Machine, proj, users):
    # Called from alice's home: the command still runs in the project directory.
    p = machine.studioctl(ALICE, "exec", "proj", "--", "sh", "-c", "pwd; id -u; cat README; cat /proc/self/cgroup")
    assert p.returncode == 0, explain(p)
    lines = p.stdout.splitlines()
    assert lines[0] == PROJ, explain(p)
    assert lines[1] == str(users[ALICE]), explain(p)
    assert lines[2] == "hello from the project", explain(p)
    assert any(UNIT in line for line in lines[3:]), f"the command did not run in {UNIT}'s cgroup:\n{p.stdout}"


def test_exec_stdin_is_passed(machine: Machine, proj):
    p = machine.studioctl(ALICE, "exec", "proj", "--", "tr", "a-z", "A-Z", input="piped text\n")
    assert p.returncode == 0, explain(p)
    assert p.stdout == "PIPED TEXT\n", explain(p)


# --- shell ----------------------------------------------------------------------------------------------------------

def test_shell_detach_keeps_terminal_and_reattach_replays(machine: Machine, proj, users):
    first = on_terminal(machine, ALICE, [
        ["expect", r"[$#] ", 15],
        ["send", "sleep 4242 &\r"],
        ["send", "echo marker-$((40+2))\r"],
        ["expect", r"marker-42", 10],
        ["send", DETACH],
        ["exit", 10],
    ], "studioctl", "shell", "proj", cwd=PROJ)
    assert first["ok"], show_terminal(first)
    assert first["status"] == 0, f"detaching should end studioctl with 0:\n{show_terminal(first)}"
    assert "Detached" in first["output"] or "detached" in first["output"], show_terminal(first)

    # The terminal keeps running: the sleep started in it is alive, inside the workspace.
    pids = machine.run("pgrep", "-u", str(users[ALICE]), "-f", "^sleep 4242$", check=False).stdout.split()
    assert pids, f"the 'sleep 4242' started in the terminal is gone after detaching:\n{show_terminal(first)}"
    cgroup = machine.run("cat", f"/proc/{pids[0]}/cgroup").stdout
    assert UNIT in cgroup, f"the terminal's sleep is not in the workspace's cgroup:\n{cgroup}"

    again = on_terminal(machine, ALICE, [
        ["expect", r"marker-42", 10],
        ["send", DETACH],
        ["exit", 10],
    ], "studioctl", "shell", "proj", cwd=PROJ)
    assert again["ok"], f"reattaching did not replay the scrollback with marker-42:\n{show_terminal(again)}"
    assert again["status"] == 0, show_terminal(again)
    assert machine.run("kill", "-0", pids[0], check=False).returncode == 0, "the sleep died on reattach"


def test_shell_without_name_uses_current_directory(machine: Machine, proj):
    r = on_terminal(machine, ALICE, [
        ["expect", r"[$#] ", 15],
        ["send", "echo here-$((1+1)) $PWD\r"],
        ["expect", r"here-2 " + re.escape(PROJ), 10],
        ["send", DETACH],
        ["exit", 10],
    ], "studioctl", "shell", "--terminal", "noname", cwd=PROJ)
    assert r["ok"] and r["status"] == 0, show_terminal(r)


def test_shell_over_pipes(machine: Machine, proj):
    p = machine.studioctl(ALICE, "shell", "proj", "--terminal", "piped",
                          input="echo piped-$((2+3))\nexit 3\n", timeout=30)
    assert p.returncode == 3, f"`exit 3` typed into the terminal should end studioctl with 3:\n{explain(p)}"
    assert "piped-5" in p.stdout, explain(p)


# --- logs -----------------------------------------------------------------------------------------------------------

def test_logs_shows_workspace_entries(machine: Machine, proj):
    p = machine.studioctl(ALICE, "logs", "proj")
    assert p.returncode == 0, explain(p)
    assert p.stdout.strip(), f"no log lines:\n{explain(p)}"
    assert re.search(r"Started .*studio-ws-alice-proj|studio-agent", p.stdout), (
        f"neither systemd's 'Started ...' nor the agent's lines:\n{p.stdout}")

    p = machine.studioctl(ALICE, "logs", "proj", "-n", "2", "--json")
    assert p.returncode == 0, explain(p)
    lines = [line for line in p.stdout.splitlines() if line.strip()]
    assert len(lines) == 2, f"-n 2 should give 2 entries:\n{p.stdout}"
    for line in lines:
        json.loads(line)


def test_logs_follow_streams_restart(machine: Machine, proj):
    """`logs -f` in the background; a restart's Stopped/Started lines must arrive while it runs."""
    pidfile = "/tmp/studio-test-logs-follow.pid"
    cmd = [str(TESTBED), "exec-as", machine.name, ALICE, "sh", "-c",
           f'echo $$ > {pidfile}; exec timeout 60 studioctl logs -f -n 1 proj']
    follower = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    got: list[tuple[float, str]] = []

    def read():
        for line in follower.stdout:
            got.append((time.monotonic(), line.rstrip("\n")))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        poll(lambda: got, 15, "the first line of `studioctl logs -f -n 1 proj`")
        since = time.monotonic()
        r = machine.studioctl(ALICE, "restart", "proj")
        assert r.returncode == 0, explain(r)

        def new(word):
            return [line for t, line in got if t >= since and word in line]

        try:
            poll(lambda: new("Stopped") and new("Started"), 15, "'Stopped' and 'Started' lines from `logs -f` after a restart")
        except AssertionError as e:
            raise AssertionError(f"{e}\nlines seen:\n" + "\n".join(line for _, line in got)) from None
        assert follower.poll() is None, "studioctl logs -f ended by itself"
    finally:
        machine.run("sh", "-c", f'kill "$(cat {pidfile})"; rm -f {pidfile}', check=False)
        try:
            follower.wait(10)
        except subprocess.TimeoutExpired:
            follower.kill()
            follower.wait()
    new_pid = machine.unit(UNIT)["MainPID"]
    assert new_pid not in ("0", proj["MainPID"]), "restart should have started a new agent"
