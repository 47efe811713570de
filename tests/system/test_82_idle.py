"""Idle stopping in the booted machine: studio-idled, the journal, the broker and real CPU accounting.

Six workspaces of alice's start together with an idle timeout of 1 min (the shortest there is: activity records
come at most every 30 s), and the tests below watch them in order for about two minutes:

- untouched: stopped within 15 s of its deadline, by studio-idled, with an audit entry that says why;
- steady: someone runs a command in it every 10 s, so it stays;
- busy: a CPU-bound job runs in it with nobody connected, so it stays;
- forged: its owner's own `logger --journald` inside it and bob's from outside write activity records for it every
  few seconds; they keep nothing alive and studio-idled says it ignored them;
- kept: `studioctl keep --for` holds it past its deadline, and when the keep ends it is stopped;
- never: idle timeout 0, never stopped.

studio-idled is restarted on the way; the deadlines it shows afterwards are the ones it showed before.
"""

from __future__ import annotations

import json
import re
import threading
import time

import pytest

from machine import ALICE, BOB, Machine, explain, poll, ws_unit

TIMEOUT = 60  # seconds: the shortest idle timeout there is
SLACK = 15  # "a workspace is stopped within 15 s of its deadline"
DIR = f"/home/{ALICE}/idle"
NAMES = ("untouched", "steady", "busy", "forged", "kept", "never")
KEEP_FOR = 100
# A record that claims to be a person typing in alice's workspace "forged".
FORGED = "MESSAGE=typing\nSTUDIO_EVENT=activity\nSTUDIO_SOURCE=terminal\nSTUDIO_USER=alice\nSTUDIO_WORKSPACE=forged\n"


def status(machine: Machine, name: str) -> dict:
    p = machine.studioctl(ALICE, "status", name, "--json")
    assert p.returncode == 0, explain(p)
    return json.loads(p.stdout)


def started_at(machine: Machine, name: str) -> float:
    """When the workspace's unit became active, as systemd says (seconds since the epoch)."""
    return status(machine, name)["unitStatus"]["activeEnterRealtimeMicroseconds"] / 1e6


def list_rows(machine: Machine) -> dict[str, dict[str, str]]:
    """`studioctl list` as alice: each row by name, its cells by column header (columns are 2+ spaces apart)."""
    p = machine.studioctl(ALICE, "list")
    assert p.returncode == 0, explain(p)
    lines = p.stdout.splitlines()
    header = re.split(r"\s{2,}", lines[0].strip())
    rows = [dict(zip(header, re.split(r"\s{2,}", line.strip()))) for line in lines[1:]]
    return {row["NAME"]: row for row in rows}


class Scenario:
    def __init__(self, machine: Machine):
        self.machine = machine
        self.t0 = 0.0
        self.start: dict[str, float] = {}
        self.keep_until = 0.0
        self.stop = threading.Event()
        self.errors: list[str] = []
        self.before_restart: dict[str, dict] = {}

    def at(self, offset: float) -> None:
        """Sleep until t0 + offset."""
        delay = self.t0 + offset - time.time()
        if delay > 0:
            time.sleep(delay)

    def keep_busy(self) -> None:
        """Every 10 s a command in "steady" (a person's exec); every 5 s forged records for "forged"."""
        m = self.machine
        tick = 0
        while not self.stop.wait(5):
            tick += 1
            try:
                if tick % 2 == 0:
                    p = m.studioctl(ALICE, "exec", "steady", "--", "true")
                    if p.returncode != 0:
                        self.errors.append(explain(p))
                m.run("logger", "--journald", user=BOB, input=FORGED, check=False)
            except Exception as e:  # reported by the tests that depend on it
                self.errors.append(repr(e))


MEASURE_DROPIN = "/etc/studio/studio.conf.d/60-cpu-measure.conf"


@pytest.fixture(scope="module")
def scenario(machine: Machine, users):
    s = Scenario(machine)
    machine.run("sh", "-c", f"mkdir -p {DIR}", user=ALICE)
    # This machine has the kernel's cgroup v2 counter (the VM tier tests that measure); here studio-idled is made to
    # use the other one, the processes' own CPU times, so that both are proven in a booted machine.
    machine.write_file(MEASURE_DROPIN, "[Idle]\nCPUMeasure=processes\n")
    machine.run("systemctl", "restart", "studio-idled.service")
    s.t0 = time.time()
    # started one after the other, each with its own deadline
    for name in NAMES:
        p = machine.studioctl(ALICE, "start", name, cwd=DIR)
        assert p.returncode == 0, explain(p)
        p = machine.studioctl(ALICE, "set", name, "--idle-timeout", "0" if name == "never" else "1min")
        assert p.returncode == 0, explain(p)
        s.start[name] = started_at(machine, name)
    # A CPU-bound job, detached: nobody stays connected.
    p = machine.studioctl(ALICE, "exec", "busy", "--", "sh", "-c", 'setsid -f sh -c "while :; do :; done" </dev/null >/dev/null 2>&1')
    assert p.returncode == 0, explain(p)
    # Inside "forged": alice's own process (not the agent) writes activity records for it every 3 s.
    loop = f'while :; do printf "{FORGED.replace(chr(10), chr(92) + "n")}" | logger --journald; sleep 3; done'
    p = machine.studioctl(ALICE, "exec", "forged", "--", "sh", "-c", f"setsid -f sh -c '{loop}' </dev/null >/dev/null 2>&1")
    assert p.returncode == 0, explain(p)
    s.forged_since = time.time()
    thread = threading.Thread(target=s.keep_busy, daemon=True)
    thread.start()
    yield s
    s.stop.set()
    thread.join(timeout=60)
    for name in NAMES:
        machine.studioctl(ALICE, "delete", name)
    machine.run("rm", "-f", MEASURE_DROPIN)
    machine.run("systemctl", "restart", "studio-idled.service")


def test_keep_for_is_recorded(machine: Machine, scenario: Scenario):
    scenario.at(5)
    p = machine.studioctl(ALICE, "keep", "kept", "--for", f"{KEEP_FOR}s", "--json")
    assert p.returncode == 0, explain(p)
    result = json.loads(p.stdout)
    scenario.keep_until = result["keepUntil"]
    assert abs(scenario.keep_until - (time.time() + KEEP_FOR)) < 5, result
    entries = machine.journal("STUDIO_AUDIT=1", "STUDIO_EVENT=workspace-keep", "STUDIO_WORKSPACE=kept")
    assert [e["STUDIO_KEEP_UNTIL"] for e in entries] == [str(int(scenario.keep_until))], entries
    assert entries[0]["_SYSTEMD_UNIT"] == "studio-sandbox.service" and entries[0]["STUDIO_RESULT"] == "success", entries[0]


def test_status_shows_deadline_and_what_keeps_it_up(machine: Machine, scenario: Scenario):
    scenario.at(12)
    untouched = poll(lambda: (s := status(machine, "untouched")).get("idle") and s, 10, "studio-idled's view of untouched")
    assert untouched["idleTimeoutSeconds"] == TIMEOUT, untouched
    idle = untouched["idle"]
    assert idle["keptBy"] == "started", idle
    assert abs(idle["stopAt"] - (scenario.start["untouched"] + TIMEOUT)) < 1.5, (idle, scenario.start)
    assert idle["cpuMeasure"] == "processes", idle  # [Idle] CPUMeasure=processes, set by the fixture

    kept = status(machine, "kept")["idle"]
    assert kept["keptBy"] == "keep" and kept["keepUntil"] == scenario.keep_until and kept["stopAt"] == scenario.keep_until, kept

    busy = poll(lambda: (i := status(machine, "busy").get("idle")) and i["busy"] and i, 15, "busy to be measured as working")
    assert busy["keptBy"] == "work", busy

    never = status(machine, "never")
    assert never["idleTimeoutSeconds"] == 0 and "stopAt" not in never["idle"], never

    p = machine.studioctl(ALICE, "status", "untouched")
    assert p.returncode == 0, explain(p)
    assert "if nothing happens; timeout 1m 0s" in p.stdout and "kept by   its start" in p.stdout, p.stdout
    rows = list_rows(machine)
    assert rows["never"]["IDLE STOP"] == "never", rows
    assert rows["kept"]["IDLE STOP"].endswith("(kept)"), rows
    assert rows["busy"]["IDLE STOP"].endswith("(working)"), rows


def test_a_restart_of_studio_idled_keeps_the_deadlines(machine: Machine, scenario: Scenario):
    scenario.at(20)
    before = {name: status(machine, name)["idle"] for name in ("untouched", "kept", "never")}
    assert all(before.values()), before
    restarted = time.time()
    machine.run("systemctl", "restart", "studio-idled.service")
    assert machine.active_state("studio-idled.service") == "active"

    def fresh():
        after = {name: status(machine, name).get("idle") for name in before}
        return all(after.values()) and after
    after = poll(fresh, 10, "studio-idled's view after its restart")
    for name in before:
        assert after[name].get("stopAt") == before[name].get("stopAt"), (name, before[name], after[name])
        assert after[name]["keptBy"] == before[name]["keptBy"], (name, before[name], after[name])
    back = machine.journal("-u", "studio-idled.service", "--since", f"@{int(restarted)}", "-g", "read the journal back")
    assert back, "studio-idled did not say it read the journal back after its restart"


def test_an_untouched_workspace_is_stopped_with_the_reason(machine: Machine, scenario: Scenario, users):
    deadline = scenario.start["untouched"] + TIMEOUT
    unit = ws_unit(ALICE, "untouched")
    poll(lambda: machine.active_state(unit) in ("inactive", "failed") or not machine.unit(unit).get("ActiveState"),
         max(1, deadline + SLACK + 5 - time.time()), "untouched to be stopped")
    entries = machine.journal("STUDIO_AUDIT=1", "STUDIO_EVENT=workspace-stop", "STUDIO_WORKSPACE=untouched")
    assert len(entries) == 1, entries
    e = entries[0]
    idled_uid = machine.run("id", "-u", "studio-idled").stdout.strip()
    assert e["STUDIO_CALLER_UID"] == idled_uid and e["STUDIO_RESULT"] == "success" and e["STUDIO_USER"] == ALICE, e
    stopped = int(e["__REALTIME_TIMESTAMP"]) / 1e6
    assert deadline - 1 <= stopped <= deadline + SLACK, f"stopped at {stopped}, the deadline was {deadline}"
    assert e["STUDIO_IDLE_SINCE"] == str(int(scenario.start["untouched"])), e
    assert e["STUDIO_REASON"].startswith("idle for 1min") and " since " in e["STUDIO_REASON"], e["STUDIO_REASON"]
    assert "no interaction and no CPU work for its idle timeout of 1min" in e["STUDIO_REASON"], e["STUDIO_REASON"]

    info = status(machine, "untouched")
    assert info["state"] == "stopped" and "idle" not in info, info
    assert abs(info["idleStop"]["idleSince"] - scenario.start["untouched"]) < 1.5, info
    p = machine.studioctl(ALICE, "status", "untouched")
    assert p.stdout.splitlines()[0].startswith("alice/untouched: stopped for idleness at "), p.stdout
    assert list_rows(machine)["untouched"]["IDLE STOP"] == "was idle"


def test_forged_activity_keeps_nothing_alive(machine: Machine, scenario: Scenario):
    unit = ws_unit(ALICE, "forged")
    # Its last real activity is the exec that started the forging loop.
    deadline = scenario.forged_since + TIMEOUT
    poll(lambda: machine.active_state(unit) in ("inactive", "failed"), max(1, deadline + SLACK + 5 - time.time()),
         "forged to be stopped although activity records for it were written every few seconds")
    forged = machine.journal("STUDIO_EVENT=activity", "STUDIO_WORKSPACE=forged", "MESSAGE=typing")
    inside = [e for e in forged if e.get("_SYSTEMD_UNIT") == unit]
    outside = [e for e in forged if e.get("_UID") == str(machine.run("id", "-u", BOB).stdout.strip())]
    assert len(inside) >= 10 and len(outside) >= 5, f"the forgers did not write: {len(inside)} inside, {len(outside)} from bob"
    ignored = machine.journal("-u", "studio-idled.service", "-g", "ignored an activity record")
    assert any(e.get("IGNORED_UNIT") == unit for e in ignored), "studio-idled does not say it ignored the forged records"
    e = machine.journal("STUDIO_AUDIT=1", "STUDIO_EVENT=workspace-stop", "STUDIO_WORKSPACE=forged")[0]
    assert e["STUDIO_REASON"].startswith("idle for"), e


def test_steady_interaction_and_cpu_work_and_keep_and_never_stay(machine: Machine, scenario: Scenario):
    scenario.at(TIMEOUT + SLACK + 15)
    assert not scenario.errors, scenario.errors
    for name in ("steady", "busy", "kept", "never"):
        assert machine.active_state(ws_unit(ALICE, name)) == "active", f"{name} was stopped"
    assert status(machine, "steady")["idle"]["keptBy"] == "interaction"
    assert status(machine, "steady")["idle"]["lastActivitySource"] == "exec"
    busy = status(machine, "busy")["idle"]
    assert busy["keptBy"] == "work" and busy["busy"] is True, busy
    assert status(machine, "kept")["idle"]["keptBy"] == "keep"
    for name in ("steady", "busy", "kept", "never"):
        assert not machine.journal("STUDIO_AUDIT=1", "STUDIO_EVENT=workspace-stop", f"STUDIO_WORKSPACE={name}"), name


def test_keep_expires(machine: Machine, scenario: Scenario):
    unit = ws_unit(ALICE, "kept")
    poll(lambda: machine.active_state(unit) in ("inactive", "failed"), max(1, scenario.keep_until + SLACK + 5 - time.time()),
         "kept to be stopped once its keep ended")
    e = machine.journal("STUDIO_AUDIT=1", "STUDIO_EVENT=workspace-stop", "STUDIO_WORKSPACE=kept")[0]
    stopped = int(e["__REALTIME_TIMESTAMP"]) / 1e6
    assert scenario.keep_until - 1 <= stopped <= scenario.keep_until + SLACK, (stopped, scenario.keep_until)
    assert machine.active_state(ws_unit(ALICE, "never")) == "active", "never (timeout 0) was stopped"


# --- settings and bad input -------------------------------------------------------------------------------------

def test_timeouts_come_from_config_template_and_workspace(machine: Machine, users):
    machine.write_file("/etc/studio/studio.conf.d/50-idle.conf", "[Idle]\nTimeout=3h\n")
    machine.write_file("/etc/studio/templates/brief.conf", "[Template]\nDescription=brief\n[Idle]\nTimeout=45min\n")
    try:
        machine.run("sh", "-c", f"mkdir -p {DIR}", user=ALICE)
        for name, template in (("cfg", "default"), ("tpl", "brief")):
            p = machine.studioctl(ALICE, "create", name, "--template", template, "--dir", DIR)
            assert p.returncode == 0, explain(p)
        assert status(machine, "cfg")["idleTimeoutSeconds"] == 3 * 3600, "[Idle] Timeout= of studio.conf.d"
        assert status(machine, "tpl")["idleTimeoutSeconds"] == 45 * 60, "the template's [Idle] Timeout= wins over the config's"
        p = machine.studioctl(ALICE, "set", "tpl", "--idle-timeout", "90min")
        assert p.returncode == 0 and p.stdout.strip() == "alice/tpl: idle timeout 1h 30m", explain(p)
        assert status(machine, "tpl")["idleTimeoutSeconds"] == 90 * 60
    finally:
        machine.run("rm", "-f", "/etc/studio/studio.conf.d/50-idle.conf", "/etc/studio/templates/brief.conf")
        for name in ("cfg", "tpl"):
            machine.studioctl(ALICE, "delete", name)


def test_bad_idle_input_is_refused_clearly(machine: Machine, proj):
    p = machine.studioctl(ALICE, "set", "proj", "--idle-timeout", "20s")
    assert p.returncode == 65 and "--idle-timeout 20s is not an idle timeout; write 0 (never) or from 1min to 365d" in p.stderr, explain(p)
    p = machine.studioctl(ALICE, "keep", "proj", "--for", "40d")
    assert p.returncode == 65 and "--for 40d is not a time span from 0 to 30d" in p.stderr, explain(p)
    # The broker checks too, whoever the client.
    answer = machine.broker(ALICE, {"v": 1, "op": "keep", "params": {"name": "proj", "seconds": -5}})
    assert answer["error"]["code"] == "bad_request", answer
    answer = machine.broker(ALICE, {"v": 1, "op": "set", "params": {"name": "proj", "idleTimeoutSeconds": 30}})
    assert answer["error"]["code"] == "bad_request" and "1min to 365d" in answer["error"]["message"], answer
    p = machine.studioctl(ALICE, "keep", "nosuch", "--for", "1h")
    assert p.returncode == 66, explain(p)
    # bob may not keep alice's workspace up, nor end her keep.
    answer = machine.broker(BOB, {"v": 1, "op": "keep", "params": {"owner": ALICE, "name": "proj", "seconds": 3600}})
    assert answer["error"]["code"] == "forbidden", answer


def test_keep_on_a_stopped_workspace_says_start_it(machine: Machine, users):
    machine.run("sh", "-c", f"mkdir -p {DIR}", user=ALICE)
    p = machine.studioctl(ALICE, "create", "cold", "--dir", DIR)
    assert p.returncode == 0, explain(p)
    try:
        p = machine.studioctl(ALICE, "keep", "cold", "--for", "1h")
        assert p.returncode == 75, explain(p)
        assert 'workspace "cold" is not running; a keep holds for a running workspace (start it first)' in p.stderr, explain(p)
    finally:
        machine.studioctl(ALICE, "delete", "cold")
