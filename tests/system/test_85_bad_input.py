"""Bad input to create/start: a clear message, the documented exit code, and nothing half-created."""

import json
import re
import time

import pytest

from conftest import PROJ
from machine import ALICE, CONF_DROPINS, Machine, explain, poll

BAD_INPUT, CONFIG = 65, 78  # studioctl(1)


def alice_names(machine: Machine) -> list[str]:
    p = machine.studioctl(ALICE, "list", "--json")
    assert p.returncode == 0, explain(p)
    return [w["definition"]["identity"]["name"] for w in json.loads(p.stdout)["workspaces"]]


def snapshot(machine: Machine) -> tuple[list[str], list[str]]:
    """What exists: studio-ws-* units (any state) and the names in alice's list."""
    return machine.ws_units(), sorted(alice_names(machine))


def assert_nothing_made(machine: Machine, name: str, before: tuple[list[str], list[str]]) -> None:
    units, names = snapshot(machine)
    assert units == before[0], f"units changed after a refused request: {before[0]} -> {units}"
    assert names == before[1], f"alice's workspaces changed after a refused request: {before[1]} -> {names}"
    uid = machine.run("id", "-u", ALICE).stdout.strip()
    assert not machine.exists(f"/run/studio/ws/{uid}-{name}"), f"a runtime directory for {name!r} was left"


def repair_broker(machine: Machine) -> str:
    """If the broker's socket or service failed, say how, and get them back for the tests that follow."""
    failed = machine.run("systemctl", "list-units", "--failed", "--plain", "--no-legend", "studio*").stdout.strip()
    if "studio-sandbox" in failed:
        # reset-failed does not reset the socket's trigger rate limit (2 s window): wait it out, then restart.
        machine.run("systemctl", "stop", "studio-sandbox.socket", "studio-sandbox.service", check=False)
        machine.run("systemctl", "reset-failed", "studio-sandbox.socket", "studio-sandbox.service", check=False)
        time.sleep(2.5)
        machine.run("systemctl", "start", "studio-sandbox.socket", check=False)
        poll(lambda: machine.studioctl(ALICE, "list").returncode == 0, 10, "the broker to answer again")
    return failed


@pytest.fixture
def units_before(machine: Machine, users) -> tuple[list[str], list[str]]:
    return snapshot(machine)


@pytest.mark.parametrize("verb", ["start", "create"])
@pytest.mark.parametrize("name", ["Bad_Name", "a" * 64, "x/y/z", "-x"], ids=["Bad_Name", "64chars", "slashes", "-x"])
def test_bad_names(machine: Machine, units_before, verb, name):
    p = machine.studioctl(ALICE, verb, "--dir", PROJ, "--", name)
    assert p.returncode == BAD_INPUT, f"expected {BAD_INPUT} (bad input: the name):\n{explain(p)}"
    assert name in p.stderr or name[:20] in p.stderr, f"the message should quote the name:\n{explain(p)}"
    assert re.search(r"lower-case|a-z", p.stderr), f"the message should say what a name may be:\n{explain(p)}"
    assert_nothing_made(machine, name.replace("/", "_"), units_before)


def test_dash_name_without_terminator_is_a_usage_error(machine: Machine, units_before):
    p = machine.studioctl(ALICE, "start", "-x", cwd=PROJ)
    assert p.returncode in (64, 65), f"expected a usage (64) or bad input (65) exit:\n{explain(p)}"
    assert p.stderr.strip(), explain(p)
    assert_nothing_made(machine, "x", units_before)


def test_missing_project_dir(machine: Machine, units_before):
    missing = "/home/alice/no-such-dir"
    p = machine.studioctl(ALICE, "start", "nodir", "--dir", missing)
    assert p.returncode == BAD_INPUT, explain(p)
    assert missing in p.stderr and "not exist" in p.stderr, explain(p)
    assert_nothing_made(machine, "nodir", units_before)


def test_project_dir_is_a_file(machine: Machine, units_before):
    p = machine.studioctl(ALICE, "start", "notadir", "--dir", f"{PROJ}/README")
    assert p.returncode == BAD_INPUT, explain(p)
    assert "README" in p.stderr and "directory" in p.stderr, explain(p)
    assert_nothing_made(machine, "notadir", units_before)


def test_unreadable_project_dir(machine: Machine, units_before):
    secret = "/home/alice/secret"
    machine.run("sh", "-c", f"mkdir -p {secret} && chown root:root {secret} && chmod 0700 {secret}")
    try:
        p = machine.studioctl(ALICE, "start", "secret", "--dir", secret)
        assert p.returncode == BAD_INPUT, explain(p)
        assert secret in p.stderr and ("readable" in p.stderr or "denied" in p.stderr.lower()), explain(p)
        assert_nothing_made(machine, "secret", units_before)
    finally:
        machine.run("rm", "-rf", secret)


def test_unknown_template_lists_available(machine: Machine, units_before):
    p = machine.studioctl(ALICE, "start", "tmplx", "--template", "no-such-template", cwd=PROJ)
    assert p.returncode == BAD_INPUT, explain(p)
    assert "no-such-template" in p.stderr and "default" in p.stderr, f"should list the available templates:\n{explain(p)}"
    assert_nothing_made(machine, "tmplx", units_before)


def test_limit_above_ceiling_at_create(machine: Machine, units_before):
    dropin = f"{CONF_DROPINS}/85-test-ceilings.conf"
    machine.write_file(dropin, "[Ceilings]\nMemoryMax=8G\nCPUs=4\nTasksMax=1000\n")
    try:
        for args, ceiling in ((["--memory", "100G"], "8G"), (["--cpus", "16"], "4"), (["--tasks", "5000"], "1000")):
            p = machine.studioctl(ALICE, "start", "ceilx", *args, cwd=PROJ)
            assert p.returncode == BAD_INPUT, explain(p)
            assert ceiling in p.stderr and "ceiling" in p.stderr.lower(), explain(p)
            assert_nothing_made(machine, "ceilx", units_before)
    finally:
        machine.run("rm", "-f", dropin)


BROKEN = {  # drop-in text, and the lines an error may point at
    "empty-section": ("[Nope]\n", (1,)),
    "section-with-key": ("# a typo\n[Nope]\nFoo=1\n", (2, 3)),
    "unknown-key": ("[Limits]\nMemoryMax=2G\nMemroyHigh=1G\n", (3,)),
}


@pytest.mark.parametrize("broker_running,content", [
    (True, "empty-section"), (True, "section-with-key"), (True, "unknown-key"), (False, "section-with-key"),
], ids=["broker-running-empty-section", "broker-running-section-with-key", "broker-running-unknown-key",
        "broker-cold-section-with-key"])
def test_broken_config_names_file_and_line(machine: Machine, units_before, broker_running, content):
    text, lines = BROKEN[content]
    dropin = f"{CONF_DROPINS}/85-test-broken.conf"
    if broker_running:
        assert machine.studioctl(ALICE, "list").returncode == 0  # the broker is up when the file appears
    else:
        machine.run("systemctl", "stop", "studio-sandbox.service")
    machine.write_file(dropin, text)
    p = None
    try:
        p = machine.studioctl(ALICE, "start", "cfgx", cwd=PROJ, timeout=30)
    finally:
        machine.run("rm", "-f", dropin)
        failed = repair_broker(machine)
        if p is not None and p.returncode == 0:  # accepted despite the broken file: take it away again
            machine.studioctl(ALICE, "delete", "cfgx")
    problems = []
    if p.returncode != CONFIG:
        problems.append(f"expected exit {CONFIG} (broken configuration), got {p.returncode}")
    if not any(f"{dropin}:{n}:" in p.stderr for n in lines):
        problems.append(f"the message does not name {dropin} and line {' or '.join(map(str, lines))}")
    if "studio-sandbox" in failed:
        problems.append(f"the broken config left the broker's units failed (the test reset them):\n{failed}")
    assert not problems, "\n".join(problems) + f"\nfile:\n{text}" + explain(p) + "\n" + machine.run(
        "journalctl", "-u", "studio-sandbox.socket", "-u", "studio-sandbox.service", "-n", "8", "--no-pager",
        check=False).stdout
    # Fixed: everything works again, and nothing was made meanwhile.
    p = machine.studioctl(ALICE, "list")
    assert p.returncode == 0, f"after removing the broken drop-in:\n{explain(p)}"
    assert_nothing_made(machine, "cfgx", units_before)
