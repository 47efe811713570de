"""/healthz from the host: socket activation starts studiod as user studio; it exits when idle and comes back."""

import re

from machine import Machine, http_get, poll


def healthz() -> dict:
    r = http_get("/healthz")
    assert r.status == 200, f"GET /healthz: {r!r}"
    assert "json" in r.headers.get("content-type", ""), f"GET /healthz Content-Type: {r.headers.get('content-type')!r}"
    body = r.json()
    assert body.get("version") == "0.1.0", f"GET /healthz: {body}"
    up = body.get("uptimeSeconds")
    assert isinstance(up, (int, float)) and not isinstance(up, bool) and up >= 0, f"GET /healthz uptimeSeconds: {body}"
    return body


def test_healthz_starts_studiod_as_user_studio(machine: Machine, studio_uid: int):
    healthz()
    u = poll(lambda: (s := machine.unit("studiod.service"))["ActiveState"] == "active" and s, 5,
             "studiod.service to be active after GET /healthz")
    pid = u["MainPID"]
    assert pid != "0", f"studiod.service is active but has no MainPID: {u}"

    status = machine.run("cat", f"/proc/{pid}/status").stdout
    uids = re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split()
    assert uids == [str(studio_uid)] * 4, f"studiod (PID {pid} inside) runs with Uid {uids}, not studio ({studio_uid})"
    user = machine.run("ps", "-o", "user=", "-p", pid).stdout.strip()
    assert user == "studio"


def test_studiod_exits_when_idle_and_socket_brings_it_back(machine: Machine):
    # Get studiod up and at least a second old, so the restarted one is visibly younger.
    body = poll(lambda: (b := healthz())["uptimeSeconds"] >= 1.5 and b, 10, "studiod uptimeSeconds >= 1.5")
    before = machine.unit("studiod.service")
    assert before["ActiveState"] == "active"

    # IdleExitSec=3s (tests' drop-in): it should go in a few seconds after the last connection.
    after = poll(lambda: (s := machine.unit("studiod.service"))["ActiveState"] in ("inactive", "failed") and s, 20,
                 "studiod.service to exit after its 3 s quiet period")
    assert (after["ActiveState"], after["Result"]) == ("inactive", "success"), (
        f"studiod.service did not exit cleanly: ActiveState={after['ActiveState']} Result={after['Result']} "
        f"ExecMainCode={after.get('ExecMainCode')} ExecMainStatus={after.get('ExecMainStatus')}"
    )
    ok, state = machine.socket_listens("studiod.socket")
    assert ok, state

    again = healthz()
    assert again["uptimeSeconds"] < body["uptimeSeconds"], f"uptime before idle exit {body}, after {again}"
    now = machine.unit("studiod.service")
    assert now["ActiveState"] == "active" and now["InvocationID"] != before["InvocationID"], (
        "GET /healthz after the idle exit should have started a new studiod"
    )
