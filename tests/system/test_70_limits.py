"""`studioctl set` on a running workspace, and the administrator's [Ceilings]."""

import json

import pytest

from machine import ALICE, CONF_DROPINS, Machine, explain, timespan_us, ws_unit

UNIT = ws_unit(ALICE, "proj")
CEILINGS = f"{CONF_DROPINS}/70-test-ceilings.conf"
LIMIT_KEYS = ("MemoryMax", "MemoryHigh", "CPUQuotaPerSecUSec", "TasksMax", "CPUWeight", "IOWeight")


def limits_of(u: dict) -> dict:
    return {k: u.get(k) for k in LIMIT_KEYS}


def test_set_applies_to_running_unit_without_restart(machine: Machine, proj):
    p = machine.studioctl(ALICE, "set", "proj", "--memory", "1G", "--cpus", "1", "--tasks", "300")
    assert p.returncode == 0, explain(p)
    u = machine.unit(UNIT)
    assert u["ActiveState"] == "active", u["ActiveState"]
    assert u["MainPID"] == proj["MainPID"], f"set restarted the workspace: MainPID {proj['MainPID']} -> {u['MainPID']}"
    assert u["MemoryMax"] == "1073741824", limits_of(u)
    assert timespan_us(u["CPUQuotaPerSecUSec"]) == 1e6, limits_of(u)
    assert u["TasksMax"] == "300", limits_of(u)
    high = int(u["MemoryHigh"]) if u["MemoryHigh"].isdigit() else None
    assert high is not None and high < 1073741824, f"MemoryHigh must follow MemoryMax down: {limits_of(u)}"

    status = json.loads(machine.studioctl(ALICE, "status", "proj", "--json").stdout)
    assert status["limits"]["memoryMaxBytes"] == 1073741824 and status["limits"]["tasksMax"] == 300, status["limits"]
    assert status["limits"]["cpus"] == 1, status["limits"]


def test_set_limits_survive_restart(machine: Machine, proj):
    p = machine.studioctl(ALICE, "restart", "proj")
    assert p.returncode == 0, explain(p)
    u = machine.unit(UNIT)
    assert (u["MemoryMax"], timespan_us(u["CPUQuotaPerSecUSec"]), u["TasksMax"]) == ("1073741824", 1e6, "300"), limits_of(u)


@pytest.fixture
def ceilings(machine: Machine):
    machine.write_file(CEILINGS, "[Ceilings]\nMemoryMax=8G\nCPUs=4\n")
    yield
    machine.run("rm", "-f", CEILINGS)


def test_set_above_ceiling_is_refused(machine: Machine, proj, ceilings):
    before = machine.unit(UNIT)
    p = machine.studioctl(ALICE, "set", "proj", "--memory", "100G")
    assert p.returncode == 65, f"expected 65 (bad input):\n{explain(p)}"
    assert "8G" in p.stderr and "ceiling" in p.stderr.lower(), f"the message should name the ceiling 8G:\n{explain(p)}"
    after = machine.unit(UNIT)
    assert limits_of(after) == limits_of(before), f"the unit changed: {limits_of(before)} -> {limits_of(after)}"
    assert after["MainPID"] == before["MainPID"]

    p = machine.studioctl(ALICE, "set", "proj", "--cpus", "8")
    assert p.returncode == 65 and "4" in p.stderr, f"--cpus 8 above CPUs=4:\n{explain(p)}"
    assert limits_of(machine.unit(UNIT)) == limits_of(before)

    stored = json.loads(machine.studioctl(ALICE, "status", "proj", "--json").stdout)["limits"]
    assert stored["memoryMaxBytes"] == 1073741824, f"the refused limit was stored: {stored}"


def test_set_within_ceiling_is_accepted(machine: Machine, proj, ceilings):
    p = machine.studioctl(ALICE, "set", "proj", "--memory", "2G", "--cpus", "1.5", "--tasks", "500")
    assert p.returncode == 0, explain(p)
    u = machine.unit(UNIT)
    assert (u["MemoryMax"], timespan_us(u["CPUQuotaPerSecUSec"]), u["TasksMax"]) == (str(2 * 1024**3), 1.5e6, "500"), limits_of(u)
    assert u["MainPID"] == proj["MainPID"]


def test_bad_limit_values_are_refused(machine: Machine, proj):
    before = limits_of(machine.unit(UNIT))
    problems = []
    for args in (["--memory", "lots"], ["--cpus", "0"], ["--tasks", "0"], ["--cpus=-1"]):
        p = machine.studioctl(ALICE, "set", "proj", *args)
        # studioctl(1): 65 = bad input, "a workspace name, project directory, template or limit that is not valid"
        if p.returncode != 65 or not p.stderr.strip():
            problems.append(f"expected exit 65 and a message:\n{explain(p)}")
    assert limits_of(machine.unit(UNIT)) == before
    assert not problems, "\n".join(problems)


def test_an_oom_kill_ends_one_process_not_the_workspace(machine: Machine, proj):
    """systemd's default for services (OOMPolicy=stop) would end the whole workspace when one process passes
    MemoryMax; a workspace unit keeps running (the kill itself is proven on a real kernel, tests/vm)."""
    assert machine.unit(UNIT)["OOMPolicy"] == "continue", machine.unit(UNIT)["OOMPolicy"]
