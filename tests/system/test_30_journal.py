"""What studiod and studio-idled write to the journal: structured entries, checked field by field."""


from machine import Machine, http_get, poll, show_entry

READY = "studiod is ready"
IDLE = "stopping: idle for 3s with no open connection"


def entries(machine: Machine, unit: str, message: str | None = None, since_us: int = 0) -> list[dict]:
    found = machine.journal("-u", unit)
    return [e for e in found
            if (message is None or e.get("MESSAGE") == message) and int(e["__REALTIME_TIMESTAMP"]) >= since_us]


def studiod_messages(machine: Machine) -> str:
    return "\n".join(show_entry(e) for e in machine.journal("-u", "studiod.service")[-15:]) or "(none)"


def test_studiod_logs_ready_with_fields(machine: Machine):
    if not entries(machine, "studiod.service", READY):
        assert http_get("/healthz").status == 200  # make sure it has started at least once
    ready = poll(lambda: entries(machine, "studiod.service", READY), 10, f"a studiod.service entry {READY!r}")
    e = ready[-1]
    assert e.get("SYSLOG_IDENTIFIER") == "studiod", show_entry(e)
    assert e.get("PRIORITY") == "6", show_entry(e)
    assert e.get("LISTENERS") == "3", show_entry(e)  # dashboard 7080, apps 7081, the unix socket
    assert e.get("_SYSTEMD_UNIT") == "studiod.service", show_entry(e)


def test_studiod_logs_idle_exit_with_fields(machine: Machine):
    def idle_entries():
        return entries(machine, "studiod.service", IDLE)

    if not idle_entries():
        assert http_get("/healthz").status == 200
    try:
        found = poll(idle_entries, 20, f"a studiod.service entry {IDLE!r}")
    except AssertionError as err:
        raise AssertionError(f"{err}\nstudiod's last entries:\n{studiod_messages(machine)}") from None
    e = found[-1]
    assert e.get("SYSLOG_IDENTIFIER") == "studiod", show_entry(e)
    assert e.get("IDLE_SECONDS") == "3", show_entry(e)
    assert e.get("_SYSTEMD_UNIT") == "studiod.service", show_entry(e)
