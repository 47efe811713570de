"""studio-idled has an identity of its own and can do nothing but stop a workspace; agents are reachable only by their
owner (and root); inside a workspace, other users' processes are invisible.

What this proves, as an attacker would check it:
- studio-idled runs as the system user `studio-idled` (group `studio-idled`, plus `systemd-journal`, not `studio`);
- /run/studio/ws and each workspace's directory there are root's: the owner cannot plant files or links in them, and
  only the owner (and root) can connect to the agent socket: not studio-idled, not studiod's `studio`, not bob;
- at the broker, studio-idled may only `stop` a workspace (with an owner and a reason, both audited) and ask `version`;
  every other operation is refused (`forbidden`) and audited as a permission denial; `studio` without a login ticket
  is refused too;
- a workspace unit has ProtectProc=invisible: bob's workspace shows none of alice's processes.
"""

import json
import time

import pytest

from conftest import PROJ
from machine import (
    AGENT_RUNTIME_ROOT, ALICE, BOB, CONNECT, Machine, answer_error, explain, poll, show_entry, ws_unit,
)

UNIT = ws_unit(ALICE, "proj")
IDLED = "studio-idled"
STUDIO = "studio"
BPROJ = f"/home/{BOB}/bproj"
REASON = "idle for 2h since 10:00"


@pytest.fixture(scope="module")
def idled_uid(machine: Machine) -> int:
    p = machine.run("id", "-u", IDLED, check=False)
    assert p.returncode == 0, f"there is no user {IDLED}:\n{explain(p)}"
    return int(p.stdout)


@pytest.fixture(scope="module")
def bproj(machine: Machine, users):
    """bob's workspace "bproj", running, for the length of this module; deleted at its end."""
    machine.run("mkdir", "-p", BPROJ, user=BOB)
    p = machine.studioctl(BOB, "start", "bproj", cwd=BPROJ, timeout=120)
    assert p.returncode == 0, f"could not start bob's workspace:\n{explain(p)}"
    yield ws_unit(BOB, "bproj")
    p = machine.studioctl(BOB, "delete", "bproj")
    assert p.returncode == 0, f"could not delete bob's workspace at the end of the module:\n{explain(p)}"


def unchanged(machine: Machine, before: dict) -> str | None:
    """Why alice's workspace is not as it was (None if it is: active, same MainPID)."""
    u = machine.unit(UNIT)
    if u["ActiveState"] != "active" or u["MainPID"] != before["MainPID"]:
        return f"{UNIT}: {u['ActiveState']} MainPID {before['MainPID']} -> {u['MainPID']}"
    return None


def audit_since(machine: Machine, since_us: int, *matches: str) -> list[dict]:
    return [e for e in machine.journal("STUDIO_AUDIT=1", *matches) if int(e["__REALTIME_TIMESTAMP"]) >= since_us]


# --- studio-idled's identity ----------------------------------------------------------------------------------------

def test_idled_is_its_own_system_user(machine: Machine, idled_uid: int):
    assert machine.run("id", "-gn", IDLED).stdout.strip() == IDLED, "studio-idled's primary group is not studio-idled"
    groups = machine.run("id", "-nG", IDLED).stdout.split()
    assert "systemd-journal" in groups, f"id -nG {IDLED}: {groups}"
    assert STUDIO not in groups, f"{IDLED} must not be in group studio (the group that reached agents): {groups}"
    assert idled_uid != int(machine.run("id", "-u", STUDIO).stdout), "studio-idled shares studio's uid"

    out = machine.run("systemctl", "show", "studio-idled.service", "-p", "User").stdout.strip()
    assert out == f"User={IDLED}", out

    # The process that runs, not only the unit file: its uids and supplementary groups.
    u = machine.unit("studio-idled.service")
    assert (u["ActiveState"], u["SubState"]) == ("active", "running"), f"studio-idled.service: {u['ActiveState']}/{u['SubState']}"
    assert machine.proc_uids(u["MainPID"]) == [str(idled_uid)] * 4
    status = machine.run("cat", f"/proc/{u['MainPID']}/status").stdout
    gids = next(line.split()[1:] for line in status.splitlines() if line.startswith("Groups:"))
    journal_gid = machine.run("getent", "group", "systemd-journal").stdout.split(":")[2]
    studio_gid = machine.run("getent", "group", STUDIO).stdout.split(":")[2]
    assert journal_gid in gids and studio_gid not in gids, (
        f"studio-idled (PID {u['MainPID']}) has groups {gids}; systemd-journal={journal_gid}, studio={studio_gid}")


# --- agent sockets ------------------------------------------------------------------------------------------------

def test_runtime_directories_are_roots(machine: Machine, proj, users):
    rundir = f"{AGENT_RUNTIME_ROOT}/{users[ALICE]}-proj"
    modes = {path: machine.run("stat", "-c", "%U:%G %a", path).stdout.strip()
             for path in (AGENT_RUNTIME_ROOT, rundir, f"{rundir}/agent.sock")}
    assert modes == {
        AGENT_RUNTIME_ROOT: "root:root 711",
        rundir: "root:root 711",
        f"{rundir}/agent.sock": f"{ALICE}:{ALICE} 600",
    }, modes
    spec = machine.run("stat", "-c", "%U %a", f"{rundir}/agent.json").stdout.strip()
    assert spec == f"{ALICE} 400", f"{rundir}/agent.json is {spec!r}, expected owner alice, mode 400"

    status = json.loads(machine.studioctl(ALICE, "status", "proj", "--json").stdout)
    assert status["agentSocket"] == f"{rundir}/agent.sock", status["agentSocket"]


def test_nobody_but_root_lists_workspace_directories(machine: Machine, proj, users):
    p = machine.run("ls", AGENT_RUNTIME_ROOT, user=BOB, check=False)
    assert p.returncode == 2 and "Permission denied" in p.stderr, f"bob listing {AGENT_RUNTIME_ROOT}:\n{explain(p)}"


def test_owner_cannot_plant_in_runtime_directory(machine: Machine, proj, users):
    rundir = f"{AGENT_RUNTIME_ROOT}/{users[ALICE]}-proj"
    for cmd in (["ln", "-s", "/etc/shadow", f"{rundir}/x"], ["touch", f"{rundir}/x"]):
        p = machine.run(*cmd, user=ALICE, check=False)
        assert p.returncode == 1 and "Permission denied" in p.stderr, f"alice: {' '.join(cmd)}\n{explain(p)}"
    assert not machine.exists(f"{rundir}/x")


@pytest.mark.parametrize("who,expected", [
    (ALICE, "connected"),
    ("root", "connected"),
    (BOB, "PermissionError 13"),
    (STUDIO, "PermissionError 13"),
    (IDLED, "PermissionError 13"),
])
def test_only_owner_and_root_reach_agent(machine: Machine, proj, users, idled_uid, who, expected):
    sock = f"{AGENT_RUNTIME_ROOT}/{users[ALICE]}-proj/agent.sock"
    p = machine.run("python3", "-c", CONNECT, sock, user=None if who == "root" else who, check=False)
    assert p.returncode == 0, explain(p)
    assert p.stdout.strip() == expected, f"{who} connecting to alice's agent socket: {p.stdout.strip()!r}"


# --- what other users' processes a workspace sees ----------------------------------------------------------------

def test_workspace_unit_hides_other_processes(machine: Machine, proj):
    out = machine.run("systemctl", "show", UNIT, "-p", "ProtectProc").stdout.strip()
    assert out == "ProtectProc=invisible", out


def test_bob_sees_no_alice_process_in_his_workspace(machine: Machine, proj, bproj, users):
    # There are alice processes to hide: her workspace runs, and root sees them.
    host = machine.run("ps", "-e", "-o", "user=,pid=,args=").stdout
    assert any(line.split()[:1] == [ALICE] for line in host.splitlines()), f"no alice process on the host:\n{host}"

    p = machine.studioctl(BOB, "exec", "bproj", "--", "ps", "-e", "-o", "user=,pid=,args=")
    assert p.returncode == 0, explain(p)
    rows = [line.split() for line in p.stdout.splitlines() if line.strip()]
    seen = [" ".join(r) for r in rows if r[0] in (ALICE, str(users[ALICE]))]
    assert not seen, f"bob's workspace shows alice's processes:\n" + "\n".join(seen)
    assert any(r[0] == BOB for r in rows), f"ps inside bob's workspace shows none of bob's own processes:\n{p.stdout}"


# --- studio-idled at the broker ------------------------------------------------------------------------------------

def test_idled_may_ask_version(machine: Machine, idled_uid):
    a = machine.broker(IDLED, {"v": 1, "op": "version"})
    assert a.get("ok") is True and a["result"]["protocolVersion"] == 1, a


def test_idled_stops_with_reason_and_is_audited(machine: Machine, proj, users, idled_uid):
    since = int(time.time() * 1_000_000)
    a = machine.broker(IDLED, {"v": 1, "op": "stop", "params": {"owner": ALICE, "name": "proj", "reason": REASON}})
    assert a.get("ok") is True, a
    u = machine.unit(UNIT)
    assert u["ActiveState"] == "inactive", f"{UNIT} is {u['ActiveState']}/{u['SubState']} after studio-idled's stop"

    def entries():
        return [e for e in audit_since(machine, since, "STUDIO_EVENT=workspace-stop")
                if e.get("STUDIO_CALLER_UID") == str(idled_uid)]

    found = poll(entries, 10, "a workspace-stop audit entry with studio-idled's uid")
    assert len(found) == 1, "\n".join(map(show_entry, found))
    e = found[0]
    want = {"STUDIO_RESULT": "success", "STUDIO_USER": ALICE, "STUDIO_WORKSPACE": "proj", "STUDIO_REASON": REASON}
    assert {k: e.get(k) for k in want} == want, show_entry(e)


@pytest.mark.parametrize("params", [
    {"owner": ALICE, "name": "proj"},
    {"name": "proj", "reason": REASON},
], ids=["no-reason", "no-owner"])
def test_idled_stop_needs_owner_and_reason(machine: Machine, proj, idled_uid, params):
    a = machine.broker(IDLED, {"v": 1, "op": "stop", "params": params})
    assert a.get("ok") is False and answer_error(a) == "bad_request", a
    assert unchanged(machine, proj) is None, unchanged(machine, proj)


IDLED_REFUSED = {
    "start": {"owner": ALICE, "name": "proj"},
    "create": {"owner": ALICE, "name": "idlex", "projectDirectory": PROJ},
    "restart": {"owner": ALICE, "name": "proj"},
    "set": {"owner": ALICE, "name": "proj", "limits": {"memoryMaxBytes": 1073741824}},
    "delete": {"owner": ALICE, "name": "proj"},
    "list": {},
    "keep": {"owner": ALICE, "name": "proj", "seconds": 3600},
    "logs": {"owner": ALICE, "name": "proj"},
    "templates": None,
}


@pytest.mark.parametrize("op", list(IDLED_REFUSED))
def test_idled_may_do_nothing_else(machine: Machine, proj, users, idled_uid, op):
    request = {"v": 1, "op": op}
    if IDLED_REFUSED[op] is not None:
        request["params"] = IDLED_REFUSED[op]
    since = int(time.time() * 1_000_000)
    a = machine.broker(IDLED, request)
    assert a.get("ok") is False and answer_error(a) == "forbidden", f"{op} as studio-idled: {a}"
    assert unchanged(machine, proj) is None, f"after {op} as studio-idled: {unchanged(machine, proj)}"

    def denied():
        return [e for e in audit_since(machine, since, "STUDIO_EVENT=permission-denied")
                if e.get("STUDIO_CALLER_UID") == str(idled_uid)]

    found = poll(denied, 10, f"a permission-denied audit entry for studio-idled's {op}")
    assert len(found) == 1, f"one refused request, {len(found)} entries:\n" + "\n".join(map(show_entry, found))
    assert found[0].get("STUDIO_RESULT") == "denied", show_entry(found[0])

    names = [w["definition"]["identity"]["name"]
             for w in json.loads(machine.studioctl(ALICE, "list", "--json").stdout)["workspaces"]]
    assert "idlex" not in names and "proj" in names, f"alice's workspaces after studio-idled's {op}: {names}"


def test_idled_may_list_everyone_and_look_at_one(machine: Machine, proj, users, idled_uid):
    """What studio-idled needs to watch workspaces: everyone's list and one workspace's state (never its logs)."""
    a = machine.broker(IDLED, {"v": 1, "op": "list", "params": {"all": True}})
    assert a.get("ok") is True, a
    assert "proj" in [w["definition"]["identity"]["name"] for w in a["result"]["workspaces"]], a
    a = machine.broker(IDLED, {"v": 1, "op": "status", "params": {"owner": ALICE, "name": "proj"}})
    assert a.get("ok") is True and a["result"]["state"] == "running" and a["result"]["definition"]["identity"]["owner"] == ALICE, a


@pytest.mark.parametrize("op", ["start", "stop", "status"])
def test_studiod_without_ticket_is_refused(machine: Machine, proj, op):
    a = machine.broker(STUDIO, {"v": 1, "op": op, "params": {"owner": ALICE, "name": "proj"}})
    assert a.get("ok") is False and answer_error(a) == "forbidden", f"{op} as studio: {a}"
    assert unchanged(machine, proj) is None, f"after {op} as studio: {unchanged(machine, proj)}"
