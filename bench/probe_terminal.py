"""Terminals and memory, Studio beside Cockpit (and a raw pty for throughput).

  mem.*.idle        PSS (MB) of fresh processes: studiod after one page, a workspace's agent with no terminal, the
                    broker, studio-idled; cockpit-ws and cockpit-bridge after a login with its WebSocket open
  key.*             a keystroke to its echo: one byte in a WebSocket frame, until it comes back (studiod → broker
                    relay → agent → pty, vs cockpit-ws → cockpit-bridge → pty); the user's login shell, readline
  tput.*            `cat` of a FILE_MB MB text file in that shell, from sending the command to its end marker read by
                    the WebSocket client (MB/s of the file); the raw peer reads its pty's master directly
  mem.*.50          PSS with 50 terminals open (studiod; the agent; cockpit-ws; cockpit-bridge)

usage: python3 probe_terminal.py ROUNDS WORKSPACE FILE
"""
import os
import subprocess
import sys
import time

from common import (COCKPIT_PORT, cockpit_login, STUDIO_PORT, USER, CockpitSession, HTTPFailure, PtyTerminal, StudioTerminal, emit,
                    fail, launcher, main_pid, note, pids_named, pss_mb, read_chunk, read_until, request, stop_units, studio_login,
                    wait_prompt)

rounds, workspace, big = int(sys.argv[1]), sys.argv[2], sys.argv[3]
file_mb = os.path.getsize(big) / 1e6
agent_unit = f"studio-ws-{USER}-{workspace}.service"


def studioctl(*args):
    subprocess.run(launcher(USER) + ["studioctl", *args], check=True, stdout=subprocess.DEVNULL)


def pss_sum(pids):
    return sum(pss_mb(p) for p in pids)


# --- Memory, idle -----------------------------------------------------------------------------------------------------
stop_units("studiod.service", "cockpit*.service")
studioctl("stop", workspace)
studioctl("start", workspace)
request("GET", STUDIO_PORT, "/")
_, cookie = studio_login()
_, cockpit_cookie = cockpit_login()
cockpit = CockpitSession(cockpit_cookie)
time.sleep(2)
emit("mem.studiod.idle", pss_mb(main_pid("studiod.service")))
emit("mem.agent.idle", pss_mb(main_pid(agent_unit)))
emit("mem.broker", pss_mb(main_pid("studio-sandbox.service")))
emit("mem.idled", pss_mb(main_pid("studio-idled.service")))
emit("mem.cockpit-ws.idle", pss_sum(pids_named("cockpit-ws")))
emit("mem.cockpit-bridge.idle", pss_sum(pids_named("cockpit-bridge")))
note("mem.cockpit", f"cockpit-ws processes: {len(pids_named('cockpit-ws'))}, cockpit-bridge processes: "
                    f"{len(pids_named('cockpit-bridge'))}")

# --- Keystroke to echo ------------------------------------------------------------------------------------------------
def keystrokes(key, terminal, count):
    wait_prompt(terminal)
    for index in range(count):
        if index % 50 == 49:
            terminal.write(b"\x15")   # Ctrl-U: keep the command line short
            time.sleep(0.1)
            terminal.write(b"echo clear-$((1+1))\r")
            read_until(terminal, b"clear-2")
            read_until(terminal, b"$ ")
        byte = bytes([ord("a") + index % 26])
        terminal.rest = b""   # nothing left over may pass for the echo
        start = time.perf_counter()
        terminal.write(byte)
        seen = b""
        while byte not in seen:
            seen += read_chunk(terminal)
        emit(key, (time.perf_counter() - start) * 1000)
    terminal.write(b"\x15")


def attempt(key, action):
    try:
        action()
    except (HTTPFailure, EOFError, OSError, TimeoutError) as e:
        fail(key, e)


studio_term = cockpit_term = None


def studio_keys():
    global studio_term
    studio_term = StudioTerminal(cookie, workspace, f"bench-{os.getpid()}")
    keystrokes("key.studio", studio_term, rounds * 10)


def cockpit_keys():
    global cockpit_term
    cockpit_term = cockpit.open_terminal()
    keystrokes("key.cockpit", cockpit_term, rounds * 10)


attempt("key.studio", studio_keys)
attempt("key.cockpit", cockpit_keys)

# --- Output throughput ------------------------------------------------------------------------------------------------
def throughput(key, terminal):
    terminal.write(b"\x15")
    terminal.write(f"cat {big}; echo end-$((6*7))\r".encode())
    start = time.perf_counter()
    read_until(terminal, b"end-42", limit=300)
    emit(key, file_mb / (time.perf_counter() - start))
    read_until(terminal, b"$ ")


raw = PtyTerminal()
wait_prompt(raw)
for _ in range(max(3, rounds // 4)):
    if studio_term:
        attempt("tput.studio", lambda: throughput("tput.studio", studio_term))
    if cockpit_term:
        attempt("tput.cockpit", lambda: throughput("tput.cockpit", cockpit_term))
    attempt("tput.pty", lambda: throughput("tput.pty", raw))
raw.close()
note("tput", f"file {file_mb:.0f} MB")

# --- Memory with 50 terminals -----------------------------------------------------------------------------------------
opened = []
try:
    for i in range(50):
        t = StudioTerminal(cookie, workspace, f"m{i}")
        wait_prompt(t)
        opened.append(t)
    time.sleep(2)
    emit("mem.studiod.50", pss_mb(main_pid("studiod.service")))
    emit("mem.agent.50", pss_mb(main_pid(agent_unit)))
except (HTTPFailure, EOFError, OSError, TimeoutError) as e:
    fail("mem.studiod.50", f"after {len(opened)} terminals: {e}")
try:
    for i in range(50):
        wait_prompt(cockpit.open_terminal())
    time.sleep(2)
    emit("mem.cockpit-ws.50", pss_sum(pids_named("cockpit-ws")))
    emit("mem.cockpit-bridge.50", pss_sum(pids_named("cockpit-bridge")))
except (HTTPFailure, EOFError, OSError, TimeoutError) as e:
    fail("mem.cockpit-ws.50", e)
for t in opened:
    t.close()
cockpit.close()
