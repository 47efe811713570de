"""Container workspaces (systemd-nspawn): a template with Backend=container starts alice's workspace on an image,
with the unit's limits; inside she is herself with her project, root inside is not root on the host, what root
installs persists in the workspace's own layer until `reset`, the image is never written; bob gets nothing; bad
images and templates say what is wrong and leave nothing behind."""

import json
import re
import time

import pytest

from machine import ALICE, BOB, Machine, explain, poll, ws_unit

TEMPLATES = "/etc/studio/templates"
BOX_PROJ = "/home/alice/boxproj"
UNIT = ws_unit(ALICE, "box")
BAD_INPUT, NOT_FOUND, FORBIDDEN, CONFLICT = 65, 66, 77, 75  # studioctl(1)
RANGE_FIRST, RANGE_END = 0x7000_0000, 0x7FFE_0000


def template(machine: Machine, name: str, body: str) -> None:
    machine.run("sh", "-c", f"mkdir -p {TEMPLATES} && cat > {TEMPLATES}/{name}.conf", input=body)


def status(machine: Machine, name: str, user: str = ALICE) -> dict:
    p = machine.studioctl(user, "status", name, "--json")
    assert p.returncode == 0, explain(p)
    return json.loads(p.stdout)


def inside(machine: Machine, *argv: str, root: bool = False, timeout: float = 120, name: str = "box") -> str:
    args = ["exec", name] + (["--root"] if root else []) + ["--", *argv]
    p = machine.studioctl(ALICE, *args, timeout=timeout)
    assert p.returncode == 0, explain(p)
    return p.stdout


@pytest.fixture(scope="module")
def box(machine: Machine, users, built_image) -> dict:
    """alice's container workspace `box` on the image built with `studioctl image build`, running."""
    template(machine, "box", "[Template]\nDescription=test container\nBackend=container\nImage=built\n"
                             "[Limits]\nMemoryMax=1G\nTasksMax=300\nCPUs=1\n")
    machine.run("sh", "-c", f"mkdir -p {BOX_PROJ} && echo 'in the box' > {BOX_PROJ}/README", user=ALICE)
    p = machine.studioctl(ALICE, "start", "box", "--template", "box", cwd=BOX_PROJ, timeout=120)
    assert p.returncode == 0, explain(p)
    info = status(machine, "box")
    assert info["state"] == "running", info
    return info


def test_the_unit_runs_nspawn_with_the_templates_limits(machine: Machine, box):
    u = machine.unit(UNIT)
    assert (u["ActiveState"], u["SubState"]) == ("active", "running"), u
    assert u["Slice"] == "studio-alice.slice"
    assert u["MemoryMax"] == str(1024**3)
    assert u["TasksMax"] == "300"
    assert u["CPUQuotaPerSecUSec"] == "1s"
    assert u["Delegate"] == "yes"
    assert u["KillMode"] == "mixed"
    assert "container-run" in u["ExecStart"]
    assert box["backend"] == "container" and box["image"] == "built", box
    base = box["definition"]["uidBase"]
    assert RANGE_FIRST <= base < RANGE_END and (base - RANGE_FIRST) % 0x10000 == 0, base
    # The agent is nspawn's child (PID 1 inside), not the unit's main process; it runs as the range's root.
    agent = box["agentPID"]
    assert agent and str(agent) != u["MainPID"], (agent, u["MainPID"])
    assert machine.proc_uids(agent) == [str(base)] * 4


def test_the_units_hardening_is_no_worse_than_documented(machine: Machine, box):
    from test_72_hardening import documented, score

    got, limit = score(machine, UNIT), documented()["container workspace"]
    assert got <= limit, f"{UNIT}: systemd-analyze security scores {got}, worse than the documented {limit}"


def test_exec_runs_as_alice_in_her_project(machine: Machine, box, users):
    out = inside(machine, "sh", "-c", 'id -un; id -u; id -g; pwd; cat README; echo "$HOME"')
    assert out.splitlines() == ["alice", str(users[ALICE]), str(users[ALICE]), BOX_PROJ, "in the box", "/home/alice"], out


def test_the_project_is_alices_on_both_sides(machine: Machine, box, users):
    inside(machine, "sh", "-c", "echo made inside > made-inside && mkdir -p sub && touch sub/f")
    host = machine.run("stat", "-c", "%u:%g", f"{BOX_PROJ}/made-inside", f"{BOX_PROJ}/sub/f").stdout.split()
    assert host == [f"{users[ALICE]}:{users[ALICE]}"] * 2, host
    assert inside(machine, "stat", "-c", "%U:%G", "README").strip() == "alice:alice"
    # Root inside cannot make files in the project (its uid is not mapped there).
    p = machine.studioctl(ALICE, "exec", "box", "--root", "--", "touch", f"{BOX_PROJ}/by-root", timeout=60)
    assert p.returncode != 0 and "Value too large" in p.stderr, explain(p)
    assert not machine.exists(f"{BOX_PROJ}/by-root")


def test_other_homes_are_not_there(machine: Machine, box, users):
    assert inside(machine, "ls", "-A", "/home").split() == ["alice"]
    p = machine.studioctl(ALICE, "exec", "box", "--", "test", "-e", "/home/bob", timeout=60)
    assert p.returncode == 1, explain(p)


def test_root_inside_is_not_root_on_the_host(machine: Machine, box):
    assert inside(machine, "id", "-u", root=True).strip() == "0"
    inside(machine, "sh", "-c", "setsid sleep 4242 >/dev/null 2>&1 < /dev/null &", root=True)
    pid = poll(lambda: machine.run("pgrep", "-f", "^sleep 4242$", check=False).stdout.split() or None, 10, "root's sleep inside")[0]
    try:
        assert machine.proc_uids(pid) == [str(box["definition"]["uidBase"])] * 4
    finally:
        machine.run("kill", pid, check=False)


def test_what_root_installs_persists_and_never_touches_the_image(machine: Machine, box):
    base = box["definition"]["uidBase"]
    data = f"/var/lib/studio/workspaces/{box['definition']['identity']['uid']}-box"
    image_before = machine.sh("cd /var/lib/machines/built && find . -xdev -printf '%p %U %G %m %s\\n' | sort | md5sum").stdout
    inside(machine, "sh", "-c", "echo kept > /etc/studio-marker", root=True)
    inside(machine, "sh", "-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hello", root=True, timeout=600)
    assert inside(machine, "hello").strip() == "Hello, world!"
    p = machine.studioctl(ALICE, "stop", "box")
    assert p.returncode == 0, explain(p)
    p = machine.studioctl(ALICE, "start", "box", timeout=120)
    assert p.returncode == 0, explain(p)
    assert inside(machine, "cat", "/etc/studio-marker").strip() == "kept"
    assert inside(machine, "hello").strip() == "Hello, world!"
    # In the workspace's layer, owned by its range; not in the image, not on the host.
    owner = machine.run("stat", "-c", "%u:%g", f"{data}/upper/usr/bin/hello").stdout.strip()
    assert owner == f"{base}:{base}", owner
    assert not machine.exists("/var/lib/machines/built/usr/bin/hello")
    assert not machine.exists("/usr/bin/hello") and not machine.exists("/etc/studio-marker")
    image_after = machine.sh("cd /var/lib/machines/built && find . -xdev -printf '%p %U %G %m %s\\n' | sort | md5sum").stdout
    assert image_after == image_before


def test_reset_is_refused_while_running_then_drops_the_layer(machine: Machine, box):
    p = machine.studioctl(ALICE, "reset", "box", "--yes")
    assert p.returncode == CONFLICT and "stop it first" in p.stderr, explain(p)
    p = machine.studioctl(ALICE, "reset", "box")  # without --yes: not worth asking while it runs
    assert p.returncode == CONFLICT and "stop it first" in p.stderr, explain(p)
    assert machine.studioctl(ALICE, "stop", "box").returncode == 0
    p = machine.studioctl(ALICE, "reset", "box")  # not at a terminal, without --yes: asks for --yes
    assert p.returncode == 64 and "--yes" in p.stderr, explain(p)
    p = machine.studioctl(ALICE, "reset", "box", "--yes")
    assert p.returncode == 0 and "reset alice/box" in p.stdout, explain(p)
    entry = machine.journal("STUDIO_AUDIT=1", "STUDIO_EVENT=workspace-reset")[-1]
    assert (entry["STUDIO_USER"], entry["STUDIO_WORKSPACE"], entry["STUDIO_RESULT"]) == (ALICE, "box", "success"), entry
    assert machine.studioctl(ALICE, "start", "box", timeout=120).returncode == 0
    p = machine.studioctl(ALICE, "exec", "box", "--", "cat", "/etc/studio-marker", timeout=60)
    assert p.returncode == 1 and "No such file" in p.stderr, explain(p)
    p = machine.studioctl(ALICE, "exec", "box", "--", "test", "-e", "/usr/bin/hello", timeout=60)
    assert p.returncode == 1, explain(p)
    # The project and the home are kept.
    assert inside(machine, "cat", "README").strip() == "in the box"


def test_the_agents_activity_counts_for_idle(machine: Machine, box):
    info = status(machine, "box")
    inside(machine, "true")
    records = poll(lambda: [e for e in machine.journal("STUDIO_EVENT=activity", f"_SYSTEMD_UNIT={UNIT}", "STUDIO_SOURCE=exec")
                            if e.get("_PID") == str(info["agentPID"])] or None, 30, "an exec activity record from the agent")
    assert records[-1]["STUDIO_WORKSPACE"] == "box"
    # studio-idled took it: the workspace's idle status names exec as its last activity.
    idle = poll(lambda: (status(machine, "box").get("idle") or {}).get("lastActivitySource") == "exec" or None, 30,
                "studio-idled to see the exec")
    assert idle


def test_bob_gets_nothing(machine: Machine, box, users):
    for args in (["exec", "alice/box", "--", "true"], ["exec", "alice/box", "--root", "--", "true"], ["stop", "alice/box"],
                 ["reset", "alice/box", "--yes"], ["status", "alice/box"]):
        p = machine.studioctl(BOB, *args, timeout=30)
        assert p.returncode == FORBIDDEN, f"{args}: expected {FORBIDDEN}:\n{explain(p)}"
    p = machine.run("python3", "-c", f"import socket; s=socket.socket(socket.AF_UNIX); s.connect('/run/studio/ws/{users[ALICE]}-box/agent.sock')",
                    user=BOB, check=False)
    assert "Permission denied" in p.stderr, explain(p)
    assert machine.unit(UNIT)["ActiveState"] == "active"


def test_a_host_workspace_refuses_root(machine: Machine, proj):
    p = machine.studioctl(ALICE, "exec", "proj", "--root", "--", "id", "-u", timeout=30)
    assert p.returncode == FORBIDDEN and "only for container workspaces" in p.stderr, explain(p)


def test_network_none_is_loopback_only_and_private_is_refused_here_with_the_reason(machine: Machine, users, built_image):
    template(machine, "nonet", "[Template]\nBackend=container\nImage=built\nNetwork=none\n")
    template(machine, "privnet", "[Template]\nBackend=container\nImage=built\nNetwork=private\n")
    machine.run("mkdir", "-p", "/home/alice/netproj", user=ALICE)
    try:
        p = machine.studioctl(ALICE, "start", "nonet", "--template", "nonet", cwd="/home/alice/netproj", timeout=120)
        assert p.returncode == 0, explain(p)
        links = [line.split(":")[0].strip() for line in inside(machine, "cat", "/proc/net/dev", name="nonet").splitlines()[2:]]
        assert links == ["lo"], links
        # This test machine is itself a container: root here may not make a veth, and the start says so.
        p = machine.studioctl(ALICE, "start", "privnet", "--template", "privnet", cwd="/home/alice/netproj", timeout=120)
        assert p.returncode == 71 and "Network=private needs a veth link" in p.stderr, explain(p)
        assert machine.studioctl(ALICE, "status", "privnet").returncode == NOT_FOUND
        assert not machine.exists(f"/var/lib/studio/workspaces/{users[ALICE]}-privnet")
    finally:
        machine.studioctl(ALICE, "delete", "nonet")
        machine.run("rm", "-f", f"{TEMPLATES}/nonet.conf", f"{TEMPLATES}/privnet.conf")


def test_a_hand_made_image_starts(machine: Machine, users, hand_image):
    template(machine, "hand", "[Template]\nBackend=container\nImage=byhand\n")
    machine.run("mkdir", "-p", "/home/alice/handproj", user=ALICE)
    p = machine.studioctl(ALICE, "start", "hand", "--template", "hand", cwd="/home/alice/handproj", timeout=120)
    assert p.returncode == 0, explain(p)
    assert "Debian GNU/Linux 12" in inside(machine, "cat", "/etc/os-release", name="hand")
    assert machine.studioctl(ALICE, "delete", "hand").returncode == 0
    assert not machine.exists(f"/var/lib/studio/workspaces/{users[ALICE]}-hand")


@pytest.mark.parametrize("body, message", [
    ("[Template]\nBackend=container\nImage=nosuch\n", 'image "nosuch" does not exist in /var/lib/machines'),
    ("[Template]\nBackend=container\nImage=notatree\n", 'image "notatree" has no os-release'),
], ids=["missing", "not-an-os-tree"])
def test_a_bad_image_is_refused_and_leaves_nothing(machine: Machine, users, built_image, body, message):
    machine.run("mkdir", "-p", "/var/lib/machines/notatree/etc")
    template(machine, "bad", body)
    machine.run("mkdir", "-p", "/home/alice/badproj", user=ALICE)
    p = machine.studioctl(ALICE, "start", "bad", "--template", "bad", cwd="/home/alice/badproj", timeout=60)
    assert p.returncode == BAD_INPUT and message in p.stderr, explain(p)
    assert machine.studioctl(ALICE, "status", "bad").returncode == NOT_FOUND
    assert machine.active_state(ws_unit(ALICE, "bad")) == "inactive"
    assert not machine.exists(f"/var/lib/studio/workspaces/{users[ALICE]}-bad")
    assert not machine.exists(f"/run/studio/ws/{users[ALICE]}-bad")


def test_a_template_without_image_is_a_config_error(machine: Machine, users):
    template(machine, "noimage", "[Template]\nBackend=container\n")
    try:
        p = machine.studioctl(ALICE, "templates")
        assert p.returncode == 78 and "Backend=container needs Image=NAME" in p.stderr, explain(p)
    finally:
        machine.run("rm", "-f", f"{TEMPLATES}/noimage.conf")


def test_delete_removes_the_layer_and_home_not_the_project(machine: Machine, box, users):
    data = f"/var/lib/studio/workspaces/{users[ALICE]}-box"
    assert machine.exists(f"{data}/upper")
    p = machine.studioctl(ALICE, "delete", "box")
    assert p.returncode == 0, explain(p)
    assert not machine.exists(data)
    assert machine.run("cat", f"{BOX_PROJ}/README").stdout.strip() == "in the box"
    machine.run("rm", "-f", f"{TEMPLATES}/box.conf", f"{TEMPLATES}/hand.conf", f"{TEMPLATES}/bad.conf")
