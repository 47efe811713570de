"""The audit trail of alice's lifecycle actions, and deleting workspaces (with and without --purge)."""

import json
import time

from conftest import PROJ
from machine import ALICE, TIMINGS, Machine, explain, poll, show_entry, ws_unit

PROJ2 = "/home/alice/proj2"
MESSAGE_IDS = {  # units/studio.catalog
    "workspace-create": "9f7c2a1e5b3d4c6fa0e1d2c3b4a59687",
    "workspace-start": "3e6b9d0c1a2f4e5d8c7b6a5f4e3d2c1b",
    "workspace-stop": "b1c2d3e4f5a64b7c8d9e0f1a2b3c4d5e",
    "workspace-delete": "5d4c3b2a1f0e4d9c8b7a6f5e4d3c2b1a",
}


def audit(machine: Machine, since_us: int, workspace: str) -> list[dict]:
    return [e for e in machine.journal("STUDIO_AUDIT=1", f"STUDIO_WORKSPACE={workspace}")
            if int(e["__REALTIME_TIMESTAMP"]) >= since_us]


def names(machine: Machine) -> list[str]:
    p = machine.studioctl(ALICE, "list", "--json")
    assert p.returncode == 0, explain(p)
    return [w["definition"]["identity"]["name"] for w in json.loads(p.stdout)["workspaces"]]


def test_lifecycle_is_audited(machine: Machine, users):
    since = int(time.time() * 1_000_000)
    machine.run("mkdir", "-p", PROJ2, user=ALICE)
    machine.run("sh", "-c", f"echo data > {PROJ2}/file", user=ALICE)
    for args in (["create", "proj2", "--dir", PROJ2], ["start", "proj2"], ["stop", "proj2"]):
        if args[0] == "start":  # measure a start that has to socket-activate the broker first
            machine.run("systemctl", "stop", "studio-sandbox.service")
        p = machine.studioctl(ALICE, *args)
        assert p.returncode == 0, explain(p)
        if args[0] == "start" and p.elapsed is not None:
            TIMINGS.append(("studioctl start proj2 (exists, stopped; broker not running)", p.elapsed))

    want = ["workspace-create", "workspace-start", "workspace-stop"]

    def events():
        found = audit(machine, since, "proj2")
        return found if all(any(e.get("STUDIO_EVENT") == w for e in found) for w in want) else None

    try:
        found = poll(events, 10, f"audit entries {want} for alice/proj2")
    except AssertionError as e:
        raise AssertionError(f"{e}\n" + "\n".join(map(show_entry, audit(machine, since, "proj2")))) from None
    for w in want:
        e = [x for x in found if x.get("STUDIO_EVENT") == w][-1]
        assert e.get("STUDIO_USER") == ALICE, show_entry(e)
        assert e.get("STUDIO_RESULT") == "success", show_entry(e)
        assert e.get("STUDIO_CALLER_UID") == str(users[ALICE]), show_entry(e)
        assert e.get("MESSAGE_ID") == MESSAGE_IDS[w], show_entry(e)
        assert e.get("_SYSTEMD_UNIT") == "studio-sandbox.service", f"not written by the broker: {show_entry(e)}"


def test_audit_catalog_explains_entries(machine: Machine):
    args = ["journalctl", "-x", "--no-pager", f"MESSAGE_ID={MESSAGE_IDS['workspace-create']}", "STUDIO_USER=alice"]
    want = "Studio workspace alice/"
    assert machine.run(*args).stdout.strip() != "-- No entries --", "no create entry of alice's at all"
    out = machine.run(*args).stdout
    if want in out:
        return
    machine.run("journalctl", "--update-catalog")
    after = machine.run(*args).stdout
    assert want in after, f"journalctl -x shows no catalog text for the create entry, even after --update-catalog:\n{after}"
    raise AssertionError(
        "the catalog was not in journald's index after installing the package (the dpkg trigger for "
        "/usr/lib/systemd/catalog did not run?); only after `journalctl --update-catalog` does journalctl -x show:\n"
        + after)


def test_delete_keeps_project_dir(machine: Machine, first_start):
    assert "proj" in names(machine)
    p = machine.studioctl(ALICE, "delete", "proj")
    assert p.returncode == 0, explain(p)
    unit = ws_unit(ALICE, "proj")
    assert unit not in machine.ws_units(), f"{unit} is still loaded after delete"
    assert machine.unit(unit).get("ActiveState") == "inactive"
    assert "proj" not in names(machine)
    assert machine.run("cat", f"{PROJ}/README").stdout == "hello from the project\n", "delete touched the project"
    p = machine.studioctl(ALICE, "status", "proj")
    assert p.returncode == 66, f"status of a deleted workspace: expected 66 (not found):\n{explain(p)}"


def test_delete_purge_needs_confirmation_then_removes_dir(machine: Machine, users):
    assert "proj2" in names(machine)
    p = machine.studioctl(ALICE, "delete", "proj2", "--purge")  # stdin not a terminal, no --yes
    assert p.returncode != 0 and "--yes" in p.stderr, f"--purge without --yes off a terminal must refuse:\n{explain(p)}"
    assert machine.exists(f"{PROJ2}/file") and "proj2" in names(machine), "a refused purge deleted something"

    p = machine.studioctl(ALICE, "delete", "proj2", "--purge", "--yes")
    assert p.returncode == 0, explain(p)
    assert not machine.exists(PROJ2), f"{PROJ2} is still there after delete --purge --yes"
    assert "proj2" not in names(machine)
    assert ws_unit(ALICE, "proj2") not in machine.ws_units()


def test_nothing_left_behind(machine: Machine, users):
    p = machine.studioctl("root", "list", "--all", "--json")
    assert p.returncode == 0, explain(p)
    assert json.loads(p.stdout)["workspaces"] == [], p.stdout
    assert machine.ws_units() == []
    left = machine.run("pgrep", "-a", "-u", f"{users[ALICE]},{users['bob']}", check=False).stdout
    assert not left.strip(), f"processes of alice or bob still run with no workspace:\n{left}"
    rundirs = machine.run("ls", "-A", "/run/studio/ws", check=False).stdout.split()
    assert rundirs == [], f"runtime directories left in /run/studio/ws: {rundirs}"
