"""studioctl as an ordinary user, and the broker's request protocol."""

import json
import re

import pytest

from machine import UNIX_CLIENT, Machine

BROKER_SOCKET = "/run/studio/sandbox.sock"


def test_studioctl_status_as_user(machine: Machine):
    out = machine.run("studioctl", "status", user="alice").stdout
    assert any("studiod" in line and "0.1.0" in line for line in out.splitlines()), f"studioctl status:\n{out}"


def test_studioctl_status_json(machine: Machine):
    out = machine.run("studioctl", "status", "--json", user="alice").stdout
    try:
        data = json.loads(out)
    except json.JSONDecodeError as e:
        pytest.fail(f"studioctl status --json did not print JSON ({e}):\n{out}")
    assert data.get("studiod", {}).get("version") == "0.1.0", f"studioctl status --json:\n{out}"


def test_studioctl_version(machine: Machine):
    out = machine.run("studioctl", "version", user="alice").stdout
    # Its own version first; lines about the daemons may follow.
    assert out.splitlines()[:1] == ["studioctl 0.1.0"], f"studioctl version printed {out!r}"


def test_studioctl_status_explains_stopped_socket(machine: Machine):
    machine.run("systemctl", "stop", "studiod.socket", "studiod.service")
    try:
        p = machine.run("studioctl", "status", user="alice", check=False)
        assert p.returncode != 0, f"studioctl status exited 0 with studiod.socket stopped:\n{p.stdout}"
        assert "systemctl status studiod.socket" in p.stderr, f"studioctl status stderr:\n{p.stderr}"
    finally:
        machine.run("systemctl", "start", "studiod.socket")
    ok, state = machine.socket_listens("studiod.socket")
    assert ok, f"after systemctl start studiod.socket: {state}"


def broker(machine: Machine, line: str) -> dict:
    out = machine.run("python3", "-c", UNIX_CLIENT, BROKER_SOCKET, input=line).stdout
    try:
        return json.loads(out)
    except json.JSONDecodeError:
        pytest.fail(f"the broker answered {line!r} with something that is not one JSON line: {out!r}")


def test_studioctl_status_shows_broker(machine: Machine):
    out = machine.run("studioctl", "status", user="alice").stdout
    assert any(re.match(r"broker\s+0\.1\.0\b", line) for line in out.splitlines()), f"studioctl status:\n{out}"


def test_broker_answers_version(machine: Machine):
    reply = broker(machine, '{"v":1,"op":"version"}\n')
    assert reply.get("ok") is True, reply


def test_broker_rejects_malformed_request_and_keeps_serving(machine: Machine):
    reply = broker(machine, "this is not json\n")
    assert reply.get("ok") is False, reply
    assert reply.get("error", {}).get("code") == "bad_request", reply

    ok, state = machine.socket_listens("studio-sandbox.socket")
    assert ok, state
    failed = machine.run("systemctl", "list-units", "--failed", "--plain", "--no-legend", "studio*").stdout
    assert not failed.strip(), f"failed units after a malformed request:\n{failed}"
    assert broker(machine, '{"v":1,"op":"version"}\n').get("ok") is True
