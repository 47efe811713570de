"""What must outlive what: project files a stop/start, workspaces and their terminals the daemons' restarts."""

import json

from conftest import PROJ
from machine import ALICE, TIMINGS, Machine, explain, on_terminal, poll, show_terminal, ws_unit

UNIT = ws_unit(ALICE, "proj")
DETACH = "\x1cd"


def test_files_survive_stop_and_start(machine: Machine, proj):
    p = machine.studioctl(ALICE, "exec", "proj", "--", "sh", "-c", "echo kept-across-restarts > kept.txt")
    assert p.returncode == 0, explain(p)

    p = machine.studioctl(ALICE, "stop", "proj")
    assert p.returncode == 0, explain(p)
    assert machine.unit(UNIT)["ActiveState"] in ("inactive", ""), machine.unit(UNIT)["ActiveState"]
    listed = json.loads(machine.studioctl(ALICE, "list", "--json").stdout)["workspaces"]
    assert [w["state"] for w in listed if w["definition"]["identity"]["name"] == "proj"] == ["stopped"], listed
    p = machine.studioctl(ALICE, "exec", "proj", "--", "true")
    assert p.returncode == 69, f"exec on a stopped workspace: expected 69 (not running):\n{explain(p)}"

    p = machine.studioctl(ALICE, "start", "proj", cwd=PROJ)
    assert p.returncode == 0, explain(p)
    if p.elapsed is not None:
        TIMINGS.append(("studioctl start proj (exists, stopped)", p.elapsed))
    p = machine.studioctl(ALICE, "exec", "proj", "--", "cat", "kept.txt")
    assert p.returncode == 0 and p.stdout == "kept-across-restarts\n", explain(p)


def test_workspace_and_terminal_survive_daemon_restarts(machine: Machine, proj, users):
    first = on_terminal(machine, ALICE, [
        ["expect", r"[$#] ", 15],
        ["send", "sleep 1000 &\r"],
        ["send", "echo survivor-$((6*7))x\r"],
        ["expect", r"survivor-42x", 10],
        ["send", DETACH],
        ["exit", 10],
    ], "studioctl", "shell", "proj", "--terminal", "survivor")
    assert first["ok"] and first["status"] == 0, show_terminal(first)
    sleeps = machine.run("pgrep", "-u", str(users[ALICE]), "-f", "^sleep 1000$", check=False).stdout.split()
    assert sleeps, "the terminal's sleep 1000 is not running"
    before = machine.unit(UNIT)

    broker_before = machine.unit("studio-sandbox.service")
    machine.run("systemctl", "restart", "studiod.socket")
    machine.run("systemctl", "stop", "studiod.service")
    machine.run("systemctl", "stop", "studio-sandbox.service")
    # Stopped: inactive, or already started again by a request on its socket (studio-idled asks it every few
    # seconds), which is then another invocation.
    broker = machine.unit("studio-sandbox.service")
    assert broker["ActiveState"] in ("inactive", "failed") or (
        broker.get("InvocationID") and broker["InvocationID"] != broker_before.get("InvocationID")), (broker_before, broker)

    after = machine.unit(UNIT)
    assert after["ActiveState"] == "active", f"{UNIT} is {after['ActiveState']} after the daemons went"
    assert after["MainPID"] == before["MainPID"], f"MainPID {before['MainPID']} -> {after['MainPID']}"
    assert after["InvocationID"] == before["InvocationID"]
    assert machine.run("kill", "-0", sleeps[0], check=False).returncode == 0, "the terminal's sleep died"

    # The broker comes back on the next request, and finds the workspace as it is (once).
    p = machine.studioctl(ALICE, "list", "--json")
    assert p.returncode == 0, explain(p)
    rows = [w for w in json.loads(p.stdout)["workspaces"] if w["definition"]["identity"]["name"] == "proj"]
    assert len(rows) == 1 and rows[0]["state"] == "running", p.stdout
    p = machine.studioctl(ALICE, "list")
    assert sum(1 for line in p.stdout.splitlines() if line.split()[:1] == ["proj"]) == 1, p.stdout
    assert machine.active_state("studio-sandbox.service") == "active"
    assert machine.unit(UNIT)["MainPID"] == before["MainPID"], "the broker's return restarted the workspace"

    again = on_terminal(machine, ALICE, [
        ["expect", r"survivor-42x", 10],
        ["send", DETACH],
        ["exit", 10],
    ], "studioctl", "shell", "proj", "--terminal", "survivor")
    assert again["ok"] and again["status"] == 0, f"the terminal lost its scrollback:\n{show_terminal(again)}"

    # A start that finds it running leaves it alone.
    p = machine.studioctl(ALICE, "start", "proj", cwd=PROJ)
    assert p.returncode == 0 and "already running" in p.stdout, explain(p)
    assert machine.unit(UNIT)["MainPID"] == before["MainPID"]
