"""The root broker, and root's own studioctl, cannot be turned against others.

What this proves, as an attacker would check it:
- only regular login accounts get workspaces: system accounts, nobody, nologin shells, locked passwords and expired
  accounts are refused (studioctl 77, `forbidden`), and an administrator can limit workspaces to a group;
- limits are range-checked where they enter (studioctl 65, raw `bad_request`), nothing is stored or started for a
  refused request, and a flood of bad requests leaves the broker up and uncrashed;
- the broker's state (studio.db) is root's alone and a template's secrets do not leave the broker;
- one uid cannot take all of the broker's connections (16) or log followers (4);
- what the audit trail records is validated, and `logs` shows only the owner's own entries of a unit;
- the per-workspace runtime directory cannot be raced by its owner;
- `delete --purge` run by root follows no symlink with root's rights;
- the broker's unit is hardened (no CAP_SYS_ADMIN/CAP_FOWNER/CAP_FSETID, no IP, invisible /proc, finite limits).
"""

import json
import select
import time

import pytest

from conftest import PROJ
from machine import (
    AGENT_RUNTIME_ROOT, ALICE, BOB, BROKER_SOCKET, CONF_DROPINS, Machine, explain, poll, show_entry, ws_unit,
)

UNIT = ws_unit(ALICE, "proj")
USAGE, BAD_INPUT, CANT_CREATE, TEMPFAIL, FORBIDDEN = 64, 65, 74, 75, 77  # studioctl(1), from sysexits.h
HOME = f"/home/{ALICE}"
LIMIT_KEYS = ("MemoryMax", "MemoryHigh", "CPUQuotaPerSecUSec", "TasksMax", "CPUWeight", "IOWeight")


def code_of(answer_line: str) -> str:
    """The error code of one broker answer line; "ok" for a success; a description for anything else."""
    try:
        answer = json.loads(answer_line)
    except json.JSONDecodeError:
        return f"(not JSON: {answer_line[:200]!r})"
    if answer.get("ok") is True:
        return "ok"
    return (answer.get("error") or {}).get("code", f"(no code: {answer_line[:200]!r})")


def alice_names(machine: Machine) -> list[str]:
    p = machine.studioctl(ALICE, "list", "--json")
    assert p.returncode == 0, explain(p)
    return sorted(w["definition"]["identity"]["name"] for w in json.loads(p.stdout)["workspaces"])


def everyones(machine: Machine) -> list[tuple[str, str]]:
    """(owner, name) of every stored workspace, as root sees them."""
    p = machine.studioctl("root", "list", "--all", "--json")
    assert p.returncode == 0, explain(p)
    return sorted((w["definition"]["identity"]["owner"], w["definition"]["identity"]["name"])
                  for w in json.loads(p.stdout)["workspaces"])


def stored_limits(machine: Machine) -> dict:
    p = machine.studioctl(ALICE, "status", "proj", "--json")
    assert p.returncode == 0, explain(p)
    return json.loads(p.stdout)["limits"]


def unit_limits(machine: Machine) -> dict:
    u = machine.unit(UNIT)
    return {k: u.get(k) for k in LIMIT_KEYS}


def read_line(proc, timeout: float) -> str | None:
    """The next stdout line of a spawned process, or None if none came within timeout seconds."""
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    return proc.stdout.readline() if ready else None


def delete_quietly(machine: Machine, user: str, name: str) -> None:
    """Cleanup after a test: delete USER's workspace NAME if it exists (whatever the test left)."""
    machine.studioctl(user, "delete", name)


# --- Accounts that may have workspaces -----------------------------------------------------------------------------

ODD_ACCOUNTS = {  # account: why it may not have workspaces
    "www-data": "a system account (uid 33)",
    "nobody": "the overflow user",
    "nolo": "its shell is /usr/sbin/nologin",
    "carol": "its password is locked",
    "dave": "the account has expired",
}


@pytest.fixture(scope="module")
def odd_accounts(machine: Machine, users):
    """The accounts of ODD_ACCOUNTS, each with a project directory /srv/<name> of its own (system accounts have no
    writable home; /tmp would not do: the broker checks the directory on the host, the workspace has PrivateTmp)."""
    machine.sh("""set -e
        id nolo >/dev/null 2>&1 || useradd -m -s /usr/sbin/nologin nolo
        if ! id carol >/dev/null 2>&1; then useradd -m -s /bin/bash carol; echo carol:pw | chpasswd; usermod -L carol; fi
        if ! id dave >/dev/null 2>&1; then useradd -m -s /bin/bash dave; usermod -e 1 dave; fi
        for u in www-data nobody nolo carol dave; do mkdir -p "/srv/$u"; chown "$u:" "/srv/$u"; chmod 0755 "/srv/$u"; done
    """)
    assert machine.run("id", "-u", "www-data").stdout.strip() == "33"
    assert machine.run("passwd", "-S", "carol").stdout.split()[1] == "L", "carol's password is not locked"
    yield
    machine.sh("userdel -r nolo; userdel -r carol; userdel -r dave; "
               "rm -rf /srv/www-data /srv/nobody /srv/nolo /srv/carol /srv/dave", check=False)


@pytest.mark.parametrize("account", list(ODD_ACCOUNTS))
def test_only_login_accounts_get_workspaces(machine: Machine, odd_accounts, account):
    before = machine.ws_units()
    directory = f"/srv/{account}"
    p = machine.studioctl(account, "start", "w", cwd=directory)
    assert p.returncode == FORBIDDEN, f"{account} ({ODD_ACCOUNTS[account]}) must get no workspace:\n{explain(p)}"
    assert p.stderr.strip(), f"no message on stderr:\n{explain(p)}"

    line = json.dumps({"v": 1, "op": "start", "params": {"name": "w2", "projectDirectory": directory}})
    answer = machine.broker_lines(account, [line])[0]
    assert code_of(answer) == "forbidden", f"raw start as {account}: {answer}"

    assert machine.ws_units() == before, f"units changed: {before} -> {machine.ws_units()}"
    stored = [w for w in everyones(machine) if w[0] == account]
    assert stored == [], f"workspaces stored for {account}: {stored}"


ACCESS_DROPIN = f"{CONF_DROPINS}/50-access.conf"


def test_access_group_gates_workspaces(machine: Machine, users):
    machine.sh("getent group studio-users >/dev/null || groupadd studio-users")
    machine.run("mkdir", "-p", f"{HOME}/gated", user=ALICE)
    machine.run("mkdir", "-p", f"/home/{BOB}/bgated", user=BOB)
    machine.write_file(ACCESS_DROPIN, "[Access]\nGroup=studio-users\n")
    try:
        p = machine.studioctl(ALICE, "start", "gated", cwd=f"{HOME}/gated")
        assert p.returncode == FORBIDDEN, f"alice is not in studio-users:\n{explain(p)}"
        assert p.stderr.strip(), explain(p)
        assert ws_unit(ALICE, "gated") not in machine.ws_units()

        machine.run("usermod", "-aG", "studio-users", ALICE)
        p = machine.studioctl(ALICE, "start", "gated", cwd=f"{HOME}/gated")
        assert p.returncode == 0, f"alice is in studio-users now:\n{explain(p)}"
        assert machine.active_state(ws_unit(ALICE, "gated")) == "active"

        p = machine.studioctl(BOB, "start", "bgated", cwd=f"/home/{BOB}/bgated")
        assert p.returncode == FORBIDDEN, f"bob is still not in studio-users:\n{explain(p)}"
    finally:
        machine.run("rm", "-f", ACCESS_DROPIN)
        delete_quietly(machine, ALICE, "gated")
        delete_quietly(machine, BOB, "bgated")
        machine.sh("gpasswd -d alice studio-users; groupdel studio-users", check=False)
    assert "gated" not in alice_names(machine)


# --- Limits are range-checked where they enter ---------------------------------------------------------------------

CLI_BAD_LIMITS = [  # (arguments, the word the message must name, the exit codes allowed)
    (["--tasks", "9223372036854775808"], "tasks", (BAD_INPUT,)),
    # 2^64-1: studioctl reads --tasks as an unsigned 64-bit number today, so it parses and must then be refused by the
    # range check (65). If --tasks becomes a signed type, the argument parser refuses it as not a number (64, usage
    # error) before anything is sent: either way nothing reaches the broker. Only here are two codes right.
    (["--tasks", "18446744073709551615"], "tasks", (USAGE, BAD_INPUT)),
    (["--cpus=-1"], "cpus", (BAD_INPUT,)),
    (["--cpus", "0"], "cpus", (BAD_INPUT,)),
    (["--cpus", "100000"], "cpus", (BAD_INPUT,)),
    (["--memory", "99999999999T"], "memory", (BAD_INPUT,)),
    (["--memory", "1K"], "memory", (BAD_INPUT,)),  # below the minimum of 16M
]


@pytest.mark.parametrize("args,word,codes", CLI_BAD_LIMITS, ids=[" ".join(a) for a, _, _ in CLI_BAD_LIMITS])
def test_studioctl_set_refuses_out_of_range(machine: Machine, proj, args, word, codes):
    stored, applied = stored_limits(machine), unit_limits(machine)
    p = machine.studioctl(ALICE, "set", "proj", *args)
    assert p.returncode in codes, f"expected exit {' or '.join(map(str, codes))}:\n{explain(p)}"
    assert word in p.stderr.lower(), f"the message should name the limit ({word}):\n{explain(p)}"
    assert stored_limits(machine) == stored, f"stored limits changed: {stored} -> {stored_limits(machine)}"
    assert unit_limits(machine) == applied, f"the unit's limits changed: {applied} -> {unit_limits(machine)}"


RAW_BAD_LIMITS = [
    {"tasksMax": 18446744073709551615},
    {"tasksMax": 9223372036854775808},
    {"cpus": -1},
    {"cpus": 1e308},
    {"cpus": 0},
    {"memoryMaxBytes": 0},
    {"memoryMaxBytes": 18446744073709551615},
    {"cpuWeight": 0},
    {"cpuWeight": 10001},
    {"ioWeight": 0},
]


def test_raw_set_refuses_out_of_range(machine: Machine, proj):
    stored, applied = stored_limits(machine), unit_limits(machine)
    lines = [json.dumps({"v": 1, "op": "set", "params": {"name": "proj", "limits": limits}}) for limits in RAW_BAD_LIMITS]
    answers = machine.broker_lines(ALICE, lines)
    wrong = [f"{limits}: {answer}" for limits, answer in zip(RAW_BAD_LIMITS, answers) if code_of(answer) != "bad_request"]
    assert not wrong, "expected bad_request for each:\n" + "\n".join(wrong)
    assert stored_limits(machine) == stored, f"stored limits changed: {stored} -> {stored_limits(machine)}"
    assert unit_limits(machine) == applied, f"the unit's limits changed: {applied} -> {unit_limits(machine)}"
    assert machine.unit(UNIT)["MainPID"] == proj["MainPID"]


@pytest.mark.parametrize("op", ["start", "create"])
def test_raw_create_refuses_out_of_range(machine: Machine, users, op):
    names, units = alice_names(machine), machine.ws_units()
    lines = [json.dumps({"v": 1, "op": op, "params": {"name": "rawlim", "projectDirectory": PROJ, "limits": limits}})
             for limits in RAW_BAD_LIMITS]
    try:
        answers = machine.broker_lines(ALICE, lines)
        wrong = [f"{limits}: {answer}" for limits, answer in zip(RAW_BAD_LIMITS, answers)
                 if code_of(answer) != "bad_request"]
        assert not wrong, f"expected bad_request for each {op}:\n" + "\n".join(wrong)
        assert alice_names(machine) == names, f"a workspace was stored: {names} -> {alice_names(machine)}"
        assert machine.ws_units() == units, f"a unit appeared: {units} -> {machine.ws_units()}"
    finally:
        if "rawlim" in alice_names(machine):
            delete_quietly(machine, ALICE, "rawlim")


# Sends the lines of stdin (a JSON list) round-robin, each on a new connection, plus a few kinds of garbage made
# here, until TOTAL requests went or BUDGET seconds passed; reads each answer's first line. Prints a summary.
FLOOD = r"""
import json, socket, sys, time
path, total, budget = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
kinds = [line.encode() for line in json.load(sys.stdin)] + [
    b'{"v":1,"op":"set","params":{"name":',               # cut off
    b'\xff\xfe\x00 not json at all \xc3\x28',              # not UTF-8
    b'[' * 60000,                                          # nested deeper than any parser should follow
    b'{"v":1,"op":"version","pad":"' + b'a' * 70000 + b'"}',  # 70 KB: longer than a request may be
    b'z' * 70000,                                          # 70 KB of nothing
]
codes, missing, examples = {}, 0, {}
start = time.monotonic()
sent = 0
while sent < total and time.monotonic() - start < budget:
    line = kinds[sent % len(kinds)]
    sent += 1
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    buf = b""
    try:
        s.connect(path)
        try:
            s.sendall(line + b"\n")
        except OSError:
            pass
        while b"\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    except OSError as e:
        examples.setdefault("error", f"{type(e).__name__} {e.errno}")
    finally:
        s.close()
    first = buf.split(b"\n")[0]
    try:
        answer = json.loads(first)
        code = "ok" if answer.get("ok") is True else answer["error"]["code"]
    except Exception:
        missing += 1
        examples.setdefault("missing", repr(first[:200]) + " for " + repr(line[:80]))
        continue
    codes[code] = codes.get(code, 0) + 1
    if code != "bad_request":
        examples.setdefault(code, repr(line[:120]))
print(json.dumps({"sent": sent, "codes": codes, "missing": missing, "examples": examples,
                  "seconds": round(time.monotonic() - start, 2)}))
"""

CRASH_SIGNS = ("Fatal error", "core dumped", "code=dumped", "code=killed", "start request repeated too quickly",
               "trigger-limit-hit", "Failed with result")


def test_flood_of_bad_requests_leaves_broker_up(machine: Machine, proj):
    since = int(time.time()) - 1
    lines = [json.dumps({"v": 1, "op": "set", "params": {"name": "proj", "limits": limits}}) for limits in RAW_BAD_LIMITS]
    lines += ['{"v":1}', '{"v":1,"op":"no-such-op"}', '{"v":1,"op":"stop","params":{"name":"../../etc"}}']
    p = machine.run("python3", "-c", FLOOD, BROKER_SOCKET, "300", "20", user=ALICE, input=json.dumps(lines),
                    check=False, timeout=60)
    assert p.returncode == 0, explain(p)
    result = json.loads(p.stdout)
    print(f"flood: {result}")
    assert result["sent"] == 300, f"300 requests did not go out within 20 s: {result}"
    assert result["missing"] == 0, f"requests went unanswered (the broker went away?): {result}"
    assert result["codes"] == {"bad_request": 300}, f"every request is a bad one: {result}"

    out = machine.run("systemctl", "is-active", "studio-sandbox.socket", check=False).stdout.strip()
    assert out == "active", f"studio-sandbox.socket is {out!r} after the flood"
    v = machine.studioctl(BOB, "version")
    assert v.returncode == 0, explain(v)
    listed = machine.studioctl(ALICE, "list")
    assert listed.returncode == 0, explain(listed)

    journal = machine.run("journalctl", "--no-pager", "-u", "studio-sandbox.service", "-u", "studio-sandbox.socket",
                          "--since", f"@{since}").stdout
    signs = [line for line in journal.splitlines() if any(sign in line for sign in CRASH_SIGNS)]
    assert not signs, "the broker's journal since the flood:\n" + "\n".join(signs)


# --- State is not readable by everyone -----------------------------------------------------------------------------

def test_database_is_roots_alone(machine: Machine, proj):
    assert machine.run("stat", "-c", "%U:%G %a", "/var/lib/studio/studio.db").stdout.strip() == "root:root 600"
    files = machine.run("sh", "-c", "stat -c '%n %U:%G %a' /var/lib/studio/studio.db*").stdout.splitlines()
    wrong = [f for f in files if not f.endswith(" root:root 600")]
    assert not wrong, f"the database's side files are not root's alone: {wrong}"
    assert machine.run("stat", "-c", "%U %a", "/var/lib/studio").stdout.strip() == "root 711"

    p = machine.run("cat", "/var/lib/studio/studio.db", user=BOB, check=False)
    assert p.returncode == 1 and "Permission denied" in p.stderr, explain(p)
    assert p.stdout == "", "bob read something of studio.db"

    out = machine.run("systemctl", "show", "studio-sandbox.service", "-p", "UMask").stdout.strip()
    assert out == "UMask=0077", out


SECRET_TEMPLATE = "/etc/studio/templates/secret.conf"
SECRET = "hunter2-secret"


@pytest.fixture
def secret_template(machine: Machine):
    machine.write_file(SECRET_TEMPLATE, f"[Template]\nDescription=has a secret\n[Environment]\nAPI_TOKEN={SECRET}\n")
    yield
    machine.run("rm", "-f", SECRET_TEMPLATE)


def test_template_secrets_do_not_leave_the_broker(machine: Machine, users, secret_template):
    p = machine.studioctl(BOB, "templates", "--json")
    assert p.returncode == 0, explain(p)
    names = [t["name"] for t in json.loads(p.stdout)["templates"]]
    assert "secret" in names, f"the template 'secret' is not listed: {names}"
    assert SECRET not in p.stdout, f"studioctl templates --json shows the secret:\n{p.stdout}"

    p = machine.studioctl(BOB, "templates")
    assert p.returncode == 0 and "secret" in p.stdout and SECRET not in p.stdout, explain(p)

    answer = machine.broker_lines(BOB, ['{"v":1,"op":"templates"}'])[0]
    assert code_of(answer) == "ok", answer
    assert "secret" in [t["name"] for t in json.loads(answer)["result"]["templates"]], answer
    assert SECRET not in answer, f"the raw templates answer carries the secret:\n{answer}"


# --- Limits on callers ---------------------------------------------------------------------------------------------

# Opens N connections to the broker and makes sure each is served (a `version` on each), then one more, whose first
# line it reads; prints a JSON summary and holds every connection open until stdin closes.
HOLD = r"""
import json, socket, sys
path, n = sys.argv[1], int(sys.argv[2])

def first_line(s):
    buf = b""
    try:
        while b"\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    except OSError as e:
        return f"({type(e).__name__} {e.errno})"
    return buf.decode("utf-8", "replace").split("\n")[0]

held, answers = [], []
for _ in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    s.sendall(b'{"v":1,"op":"version"}\n')
    answers.append(first_line(s))
    held.append(s)
extra = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
extra.settimeout(10)
try:
    extra.connect(path)
    try:
        extra.sendall(b'{"v":1,"op":"version"}\n')  # the broker may have answered and closed already
    except OSError:
        pass
    line = first_line(extra)
except OSError as e:
    line = f"(connect: {type(e).__name__} {e.errno})"
print(json.dumps({"answers": answers, "extra": line}), flush=True)
sys.stdin.read()
"""


def test_connections_per_uid_are_capped(machine: Machine, proj):
    holder = machine.spawn("python3", "-c", HOLD, BROKER_SOCKET, "16", user=ALICE)
    try:
        line = read_line(holder, 30)
        assert line, f"the holder printed nothing: {holder.poll()} {holder.stderr.read() if holder.poll() is not None else ''}"
        held = json.loads(line)
        not_served = [a for a in held["answers"] if code_of(a) != "ok"]
        assert not not_served, f"of alice's first 16 connections, some were not served: {not_served}"
        assert code_of(held["extra"]) == "busy", f"alice's 17th connection got {held['extra']!r}"
        assert json.loads(held["extra"])["ok"] is False

        p = machine.studioctl(BOB, "list")
        assert p.returncode == 0, f"bob is held up by alice's connections:\n{explain(p)}"
        # Inferred: `busy` is a temporary failure, 75, as for a fifth log follower.
        p = machine.studioctl(ALICE, "list")
        assert p.returncode == TEMPFAIL, f"alice's 17th connection (studioctl list):\n{explain(p)}"
    finally:
        holder.stdin.close()
        try:
            holder.wait(15)
        except Exception:
            holder.kill()
            holder.wait()
    poll(lambda: machine.studioctl(ALICE, "list").returncode == 0, 10, "alice's studioctl list to work again")


FOLLOW = r"""
for i in $(seq "$1" "$2"); do
    studioctl logs -f -n 1 proj >"$HOME/.studio-test-follow-$i.out" 2>&1 </dev/null &
    echo $!
done
"""


def test_log_followers_per_uid_are_capped(machine: Machine, proj):
    pids: list[str] = []

    def alive(pid: str) -> bool:
        return machine.run("kill", "-0", pid, check=False).returncode == 0

    def follow(first: int, last: int) -> list[str]:
        new = machine.run("bash", "-c", FOLLOW, "bash", str(first), str(last), user=ALICE).stdout.split()
        pids.extend(new)
        return new

    def output(i: int) -> str:
        return machine.run("cat", f"{HOME}/.studio-test-follow-{i}.out", check=False).stdout

    try:
        four = follow(1, 4)
        poll(lambda: all(output(i).strip() for i in range(1, 5)), 15, "a first line from each of 4 `logs -f`")
        assert all(alive(pid) for pid in four), "a follower ended by itself"

        p = machine.run("timeout", "15", "studioctl", "logs", "-f", "-n", "1", "proj", user=ALICE, check=False, timeout=30)
        assert p.returncode == TEMPFAIL, f"a fifth `studioctl logs -f proj` (124: it kept following):\n{explain(p)}"
        assert p.stderr.strip(), explain(p)

        machine.run("kill", *four)
        poll(lambda: not any(alive(pid) for pid in four), 10, "the four followers to end")

        # The broker frees the slots once it sees the clients gone: a new follower keeps running.
        deadline = time.monotonic() + 10
        attempt = 5
        while True:
            (pid,) = follow(attempt, attempt)
            time.sleep(1)
            if alive(pid):
                break
            assert time.monotonic() < deadline, f"a new follower still ends at once:\n{output(attempt)}"
            attempt += 1
    finally:
        if pids:
            machine.run("kill", *pids, check=False)
        machine.sh(f"rm -f {HOME}/.studio-test-follow-*.out", check=False)


def test_logs_line_count_is_bounded(machine: Machine, proj):
    answer = machine.broker_lines(ALICE, [json.dumps({"v": 1, "op": "logs", "params": {"name": "proj", "lines": 1000001}})])[0]
    assert code_of(answer) == "bad_request", answer
    p = machine.studioctl(ALICE, "logs", "proj", "-n", "1000001")
    assert p.returncode == BAD_INPUT, explain(p)


# --- The audit trail validates what it records ---------------------------------------------------------------------

@pytest.mark.parametrize("caller", [ALICE, "studio-idled"])
def test_audit_refuses_forged_owner(machine: Machine, proj, caller):
    # 20,000 "x\n": each newline is escaped in JSON as two bytes, so the request line is 60 KB, under the broker's
    # 64 KiB line limit: it must be refused for what it says, not for its length. ("x\n" * 30000 would be a 90 KB line,
    # refused unread as too long, and would prove nothing about the audit trail.)
    owner = "x\n" * 20000
    params = {"owner": owner, "name": "proj"} | ({"reason": "idle for 2h"} if caller == "studio-idled" else {})
    line = json.dumps({"v": 1, "op": "stop", "params": params})
    assert 60000 <= len(line) < 64 * 1024, len(line)
    since = int(time.time() * 1_000_000)
    answer = machine.broker_lines(caller, [line])[0]
    assert code_of(answer) == "bad_request", f"{caller}: {answer[:500]}"
    assert machine.unit(UNIT)["MainPID"] == proj["MainPID"]

    time.sleep(0.5)  # let the journal take any entry written for the request
    entries = machine.journal("STUDIO_AUDIT=1", "-n", "20")
    entries += [e for e in machine.journal("STUDIO_AUDIT=1") if int(e["__REALTIME_TIMESTAMP"]) >= since]
    bad = [e for e in entries if len(str(e.get("STUDIO_USER", ""))) > 32 or "\n" in str(e.get("STUDIO_USER", ""))]
    assert not bad, "audit entries with a forged STUDIO_USER:\n" + "\n".join(show_entry(e)[:400] for e in bad)


def test_logs_shows_only_the_owners_entries(machine: Machine, users):
    machine.run("mkdir", "-p", f"{HOME}/ghost", user=ALICE)
    unit = ws_unit(ALICE, "ghost")
    try:
        for args in (["start", "ghost"], ["stop", "ghost"]):
            p = machine.studioctl(ALICE, *args, cwd=f"{HOME}/ghost")
            assert p.returncode == 0, explain(p)
        # The stopped workspace's unit must be gone (garbage-collected) before root can make one of that name.
        poll(lambda: machine.unit(unit).get("LoadState") == "not-found", 10, f"{unit} to be unloaded after stop")
        # root plants a process of bob's in a unit of alice's name. The description keeps the marker out of
        # systemd's own "Started ..." line, which is PID 1's about the unit and legitimately shown.
        machine.run("systemd-run", "--unit", unit, "--description", "planted unit", "-p", f"User={BOB}", "--wait",
                    "sh", "-c", "echo planted-by-bob", timeout=60)
        poll(lambda: "planted-by-bob" in machine.run("journalctl", "--no-pager", "-u", unit, "-o", "cat").stdout,
             10, "bob's planted line in the unit's journal (root sees it)")

        p = machine.studioctl(ALICE, "logs", "ghost", "-n", "1000")
        assert p.returncode == 0, explain(p)
        assert p.stdout.strip(), f"alice sees none of her own workspace's entries:\n{explain(p)}"
        assert "planted-by-bob" not in p.stdout, f"alice's logs show bob's entry:\n{p.stdout}"
    finally:
        delete_quietly(machine, ALICE, "ghost")
    assert "ghost" not in alice_names(machine)


# --- The broker's runtime directory cannot be raced ---------------------------------------------------------------

# As the workspace's owner, for argv[2] seconds: plant links and files in argv[1] (a workspace's runtime directory,
# root's), take it away or put another in its place. Counts what succeeded (nothing may) and how often it was there.
RACE_ATTACK = r"""
import json, os, sys, time
d = sys.argv[1]
end = time.monotonic() + float(sys.argv[2])
parent = os.path.dirname(d)
succeeded, tries, present = [], 0, 0

def attempt(what, fn):
    global tries
    tries += 1
    try:
        fn()
    except OSError:
        return
    succeeded.append(what)

def create(p):
    os.close(os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))

while time.monotonic() < end:
    try:
        if os.path.isdir(d) and not os.path.islink(d):
            present += 1
    except OSError:
        pass
    for name in ("agent.json", "agent.sock", "x"):
        p = f"{d}/{name}"
        attempt(f"symlink {p}", lambda: os.symlink("/etc/shadow", p))
        attempt(f"create {p}", lambda: create(p))
        attempt(f"unlink {p}", lambda: os.unlink(p))
        attempt(f"rename {p}", lambda: os.rename(p, p + ".moved"))
    attempt(f"rename {d}", lambda: os.rename(d, d + ".moved"))
    attempt(f"rmdir {d}", lambda: os.rmdir(d))
    attempt(f"mkdir {d}", lambda: os.mkdir(d))
    attempt(f"symlink {d}", lambda: os.symlink("/etc", d))
    attempt(f"symlink {parent}/x", lambda: os.symlink(d, f"{parent}/x"))
print(json.dumps({"tries": tries, "present": present, "successes": len(succeeded), "succeeded": succeeded[:40]}))
"""

START_STOP = r"""
cd "$HOME/race" || exit 125
end=$((SECONDS + $1))
while ((SECONDS < end)); do
    studioctl start race >/dev/null; a=$?
    studioctl stop race >/dev/null; b=$?
    echo "$a $b"
done
"""


def ownership(machine: Machine) -> str:
    """Owners and modes of what an attack on the runtime directory could reach. `ls -la` would do, but its
    timestamps (and the directories' sizes) change with every workspace started; studiod's own runtime directory
    comes and goes with studiod's idle exits."""
    files = machine.run("stat", "-c", "%n %U:%G %a", "/var/lib/studio/studio.db", "/etc/shadow", "/etc/passwd").stdout
    tree = machine.run("find", "/run/studio", "-maxdepth", "3", "-path", "/run/studio/studiod", "-prune", "-o",
                       "-printf", "%p %u:%g %m %y\n").stdout
    return files + "".join(sorted(tree.splitlines(keepends=True)))


def test_runtime_directory_cannot_be_raced(machine: Machine, proj, users):
    rundir = f"{AGENT_RUNTIME_ROOT}/{users[ALICE]}-race"
    machine.run("mkdir", "-p", f"{HOME}/race", user=ALICE)
    p = machine.studioctl(ALICE, "create", "race", "--dir", f"{HOME}/race")
    assert p.returncode == 0, explain(p)
    attacker = None
    try:
        before = ownership(machine)
        attacker = machine.spawn("python3", "-c", RACE_ATTACK, rundir, "10.5", user=ALICE)
        loop = machine.run("bash", "-c", START_STOP, "bash", "10", user=ALICE, check=False, timeout=90)
        out, err = attacker.communicate(timeout=60)
        assert attacker.returncode == 0, f"the attacking script failed:\n{out}\n{err}"
        attack = json.loads(out)
        print(f"race: {attack['tries']} attempts, directory seen {attack['present']} times; "
              f"{len(loop.stdout.splitlines())} start/stop rounds")

        assert attack["successes"] == 0, f"alice got into the runtime directory: {attack}"
        assert attack["present"] > 0, f"the attack never met the runtime directory (the race did not happen): {attack}"
        rounds = [line.split() for line in loop.stdout.splitlines()]
        assert len(rounds) >= 2 and all(r == ["0", "0"] for r in rounds), (
            f"alice's start/stop rounds (start, stop exit codes): {rounds}\n{loop.stderr}")

        p = machine.studioctl(ALICE, "delete", "race")
        assert p.returncode == 0, explain(p)
        after = ownership(machine)
        assert after == before, f"owners or modes changed:\n--- before ---\n{before}--- after ---\n{after}"
        assert not machine.exists(rundir) and not machine.exists(f"{AGENT_RUNTIME_ROOT}/x")
    finally:
        if attacker and attacker.poll() is None:
            attacker.kill()
            attacker.wait()
        if "race" in alice_names(machine):
            delete_quietly(machine, ALICE, "race")


# --- Broker unit hardening ---------------------------------------------------------------------------------------

def test_broker_unit_is_hardened(machine: Machine):
    props = ["ProtectProc", "ProcSubset", "PrivateIPC", "IPAddressDeny", "LimitNOFILE", "TasksMax", "MemoryMax",
             "CapabilityBoundingSet"]
    out = machine.run("systemctl", "show", "studio-sandbox.service", *(a for p in props for a in ("-p", p))).stdout
    u = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    shown = {k: u.get(k) for k in props}
    assert u.get("ProtectProc") == "invisible", shown
    assert u.get("ProcSubset") == "pid", shown
    assert u.get("PrivateIPC") == "yes", shown
    # IPAddressDeny=any, as systemd 252 shows it.
    assert set(u.get("IPAddressDeny", "").split()) == {"0.0.0.0/0", "::/0"}, shown
    assert u.get("LimitNOFILE") == "4096", shown
    for key in ("TasksMax", "MemoryMax"):
        value = u.get(key, "")
        assert value.isdigit() and int(value) < 2**64 - 1, f"{key} is not a finite number: {shown}"
    caps = u.get("CapabilityBoundingSet", "").split()
    assert caps, f"no capability bounding set shown: {shown}"
    kept = [c for c in ("cap_fsetid", "cap_sys_admin", "cap_fowner") if c in caps]
    assert not kept, f"the broker keeps {kept}: {caps}"


# --- Purge follows no symlink as root (last: if it failed, it would take /etc with it) -----------------------------

def test_purge_own_directory(machine: Machine, users):
    directory = f"{HOME}/p2"
    machine.run("sh", "-c", f"mkdir -p {directory}/sub && echo data > {directory}/sub/file", user=ALICE)
    p = machine.studioctl(ALICE, "create", "p2", "--dir", directory)
    assert p.returncode == 0, explain(p)
    p = machine.studioctl(ALICE, "delete", "p2", "--purge", "--yes")
    assert p.returncode == 0, explain(p)
    assert not machine.exists(directory), f"{directory} is still there"
    assert "p2" not in alice_names(machine)


CANARY = "/etc/studio-purge-canary"


def test_root_purge_follows_no_symlink(machine: Machine, users):
    machine.run("mkdir", "-p", f"{HOME}/a/etc", user=ALICE)
    for args in (["start", "evil"], ["stop", "evil"]):
        p = machine.studioctl(ALICE, *args, cwd=f"{HOME}/a/etc")
        assert p.returncode == 0, explain(p)
    machine.run("sh", "-c", 'rm -rf "$HOME/a" && ln -s / "$HOME/a"', user=ALICE)
    assert machine.run("readlink", "-f", f"{HOME}/a/etc").stdout.strip() == "/etc"
    machine.write_file(CANARY, "root's file; no purge of alice's may take it\n")
    etc_before = machine.run("ls", "-A", "/etc").stdout
    try:
        p = machine.studioctl("root", "delete", "alice/evil", "--purge", "--yes")
        assert machine.run("cat", CANARY, check=False).stdout == "root's file; no purge of alice's may take it\n", (
            f"{CANARY} is gone: root's purge followed alice's symlink\n{explain(p)}")
        assert machine.exists("/etc/passwd"), f"/etc/passwd is gone\n{explain(p)}"
        assert machine.run("ls", "-A", "/etc").stdout == etc_before, f"/etc changed:\n{explain(p)}"
        assert ("alice", "evil") not in everyones(machine), "the workspace's definition is still there"
        assert p.returncode == CANT_CREATE, (
            f"expected {CANT_CREATE}: deleted, but its files could not all be removed (alice cannot remove /etc):\n{explain(p)}")
        assert p.stderr.strip(), explain(p)
    finally:
        machine.run("rm", "-f", CANARY)
        machine.run("rm", "-f", f"{HOME}/a", user=ALICE, check=False)
        if ("alice", "evil") in everyones(machine):
            machine.studioctl(ALICE, "delete", "evil")
