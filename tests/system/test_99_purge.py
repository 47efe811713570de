"""Last: `apt-get purge studio` leaves nothing behind. Runs last (file name order); the machine is spent after."""

from machine import TEST_DROPIN, Machine, host_listeners, poll, tcp_accepts


def test_purge_leaves_nothing(machine: Machine, studio_uid: int):
    # The drop-in is the test's own addition, as an admin's would be; take it away first so what is
    # checked below is only what the package itself created.
    machine.run("rm", "-f", TEST_DROPIN)
    idled_uid = int(machine.run("id", "-u", "studio-idled").stdout)
    machine.run("apt-get", "purge", "-y", "studio", timeout=300)

    for path in ("/lib/systemd/system/studiod.socket", "/var/lib/studio", "/etc/studio"):
        assert not machine.exists(path), f"{path} is still there after apt-get purge"
    p = machine.run("getent", "passwd", "studio", check=False)
    assert p.returncode != 0, f"user studio still exists after apt-get purge: {p.stdout.strip()}"
    left = machine.run("pgrep", "-a", "-u", str(studio_uid), check=False).stdout
    assert not left.strip(), f"processes of the former studio user still run:\n{left}"
    # getent: exit 2, "key not found in database".
    p = machine.run("getent", "passwd", "studio-idled", check=False)
    assert p.returncode == 2, f"user studio-idled still exists after apt-get purge (getent: {p.returncode}): {p.stdout.strip()}"
    left = machine.run("pgrep", "-a", "-u", str(idled_uid), check=False).stdout
    assert not left.strip(), f"processes of the former studio-idled user still run:\n{left}"

    poll(lambda: not host_listeners(), 10, "nothing to listen on 7080 after purge")
    assert not tcp_accepts(), "127.0.0.1:7080 still accepts connections after purge"
