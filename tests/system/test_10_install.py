"""Right after `apt install`: the sockets listen, studio-idled runs, studiod itself waits for its first request."""

from machine import Machine, tcp_accepts


def test_sockets_listen_and_idled_runs(machine: Machine):
    for unit in ("studiod.socket", "studio-sandbox.socket"):
        ok, state = machine.socket_listens(unit)
        assert ok, state
    idled = machine.unit("studio-idled.service")
    assert (idled["ActiveState"], idled["SubState"]) == ("active", "running"), (
        f"studio-idled.service: {idled['ActiveState']}/{idled['SubState']} (Result={idled.get('Result')})"
    )


def test_studiod_not_started_before_first_request(machine: Machine):
    after_install = machine.facts["studiod_after_install"]
    assert after_install["ActiveState"] == "inactive", (
        f"studiod.service was {after_install['ActiveState']}/{after_install['SubState']} right after install, "
        "before anyone connected (socket activation should start it on the first request)"
    )
    assert machine.active_state("studiod.service") == "inactive"


def test_port_7080_accepts_tcp_from_host(machine: Machine):
    assert tcp_accepts(), "no TCP connection to 127.0.0.1:7080 from the host"


def test_the_agent_is_a_lean_program_of_its_own(machine: Machine):
    """The workspace agent links only libc and the C++ runtime (no libsystemd, SQLite, PAM or libcrypto), so that the
    host's binary runs inside any glibc container image too."""
    out = machine.run("ldd", "/usr/lib/studio/studio-agent").stdout
    libraries = sorted(line.split()[0].rsplit("/", 1)[-1] for line in out.splitlines() if line.strip())
    assert libraries == sorted(["linux-vdso.so.1", "libstdc++.so.6", "libm.so.6", "libgcc_s.so.1", "libc.so.6",
                                "ld-linux-x86-64.so.2"]), out
    p = machine.run("/usr/lib/studio/studio-agent", "--help")
    assert "--spec <path>" in p.stdout, p.stdout
