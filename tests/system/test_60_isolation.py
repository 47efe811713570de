"""bob and alice's workspace: bob sees nothing of it, can do nothing to it, and cannot reach its agent."""

import json
import re
import time

import pytest

from machine import AGENT_RUNTIME_ROOT, ALICE, BOB, CONNECT, Machine, explain, poll, show_entry, ws_unit

UNIT = ws_unit(ALICE, "proj")
FORBIDDEN = 77  # studioctl(1): permission denied: the workspace is not yours


def test_bob_does_not_see_alices_workspace(machine: Machine, proj, users):
    p = machine.studioctl(BOB, "list")
    assert p.returncode == 0, explain(p)
    assert not re.search(r"\bproj\b|\balice\b", p.stdout), f"bob's list shows alice's workspace:\n{p.stdout}"
    p = machine.studioctl(BOB, "list", "--json")
    assert p.returncode == 0, explain(p)
    assert json.loads(p.stdout)["workspaces"] == [], p.stdout

    p = machine.studioctl(BOB, "list", "--all")
    assert p.returncode == FORBIDDEN, f"list --all is root's:\n{explain(p)}"
    p = machine.studioctl(BOB, "list", "--owner", ALICE)
    assert p.returncode == FORBIDDEN, f"list --owner alice is root's:\n{explain(p)}"


@pytest.mark.parametrize("args", [
    ["stop", "alice/proj"],
    ["status", "alice/proj"],
    ["restart", "alice/proj"],
    ["delete", "alice/proj"],
    ["start", "alice/proj"],
    ["set", "alice/proj", "--memory", "1G"],
    ["logs", "alice/proj"],
    ["exec", "alice/proj", "--", "true"],
    ["shell", "alice/proj"],
], ids=lambda a: a[0])
def test_bob_cannot_act_on_alices_workspace(machine: Machine, proj, users, args):
    p = machine.studioctl(BOB, *args, timeout=30)
    assert p.returncode == FORBIDDEN, f"expected exit {FORBIDDEN} (permission denied):\n{explain(p)}"
    assert p.stderr.strip(), f"no message on stderr:\n{explain(p)}"
    u = machine.unit(UNIT)
    assert u["ActiveState"] == "active" and u["MainPID"] == proj["MainPID"], (
        f"alice's workspace changed after bob's `studioctl {' '.join(args)}`: {u['ActiveState']} MainPID "
        f"{proj['MainPID']} -> {u['MainPID']}")


def test_bob_cannot_reach_alices_agent(machine: Machine, proj, users):
    rundir = f"{AGENT_RUNTIME_ROOT}/{users[ALICE]}-proj"
    sock = f"{rundir}/agent.sock"
    assert machine.exists(sock), f"no agent socket at {sock}"

    # alice can connect; bob cannot even reach the socket.
    assert machine.run("python3", "-c", CONNECT, sock, user=ALICE).stdout.strip() == "connected"
    out = machine.run("python3", "-c", CONNECT, sock, user=BOB).stdout.strip()
    assert out.startswith("PermissionError"), f"bob connecting to alice's agent socket: {out}"
    p = machine.run("ls", rundir, user=BOB, check=False)
    assert p.returncode != 0 and "Permission denied" in p.stderr, f"bob listing {rundir}: {p.stdout}{p.stderr}"


def test_studiod_user_cannot_reach_alices_agent(machine: Machine, proj, users):
    """studiod (user studio) is trusted by no agent for its uid: the web issue hands it a connection through the
    broker for a logged-in user (docs/architecture.md, "Identities"). Until then it cannot even reach the socket."""
    sock = f"{AGENT_RUNTIME_ROOT}/{users[ALICE]}-proj/agent.sock"
    out = machine.run("python3", "-c", CONNECT, sock, user="studio").stdout.strip()
    assert out == "PermissionError 13", f"user studio connecting to alice's agent socket: {out}"


def test_refusals_are_audited_with_bobs_uid(machine: Machine, proj, users):
    since = int(time.time() * 1_000_000)
    p = machine.studioctl(BOB, "stop", "alice/proj")
    assert p.returncode == FORBIDDEN, explain(p)

    def denied():
        return [e for e in machine.journal("STUDIO_AUDIT=1", "STUDIO_EVENT=permission-denied")
                if int(e["__REALTIME_TIMESTAMP"]) >= since]

    found = poll(denied, 10, "a permission-denied audit entry for bob's `stop alice/proj`")
    e = found[-1]
    assert e.get("STUDIO_CALLER_UID") == str(users[BOB]), show_entry(e)
    assert e.get("STUDIO_RESULT") == "denied", show_entry(e)
    assert e.get("MESSAGE_ID") == "e0d1c2b3a4f54e6d9c8b7a6f5e4d3c2b", show_entry(e)
    assert e.get("STUDIO_USER") == ALICE and e.get("STUDIO_WORKSPACE") == "proj", show_entry(e)
