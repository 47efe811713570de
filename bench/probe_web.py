"""Cold start and logins, Studio beside Cockpit, interleaved round by round.

  cold.*        the service stopped, its socket listening: connect → first byte of the dashboard (`GET /`, studiod)
                and of Cockpit's login page (`GET /`, cockpit.socket → cockpit-tls → cockpit-ws); must be HTTP 200
  warm.*        the same request again, the service running
  login.warm.*  `POST /api/v1/login` (studiod → broker → PAM) vs `GET /cockpit/login` with Basic (cockpit-ws →
                cockpit-session → PAM → cockpit-bridge), request to the end of the answer, services running
  login.cold.*  the same with every service of each stopped first (studiod and the broker; all cockpit*.service)

usage: python3 probe_web.py ROUNDS
"""
import sys
import time

from common import (COCKPIT_PORT, RESTARTED_SOCKETS, note, STUDIO_PORT, HTTPFailure, cockpit_login, emit, fail, request, stop_units,
                    studio_login, studio_logout)

rounds = int(sys.argv[1])
COCKPIT_UNITS = "cockpit*.service"


def timed(key, action):
    try:
        emit(key, action() * 1000)
    except (HTTPFailure, StopIteration, OSError) as e:
        fail(key, e)


def studio_login_once():
    elapsed, cookie = studio_login()
    studio_logout(cookie)
    return elapsed


# Cockpit's units allow 5 starts in 10 s; a cold round every 2 s stays under that (reset-failed alone does not: the
# per-connection instances and their sockets count too). Studio's rounds are paced the same.
PACE = 2.0

for _ in range(rounds):
    time.sleep(PACE)
    stop_units("studiod.service")
    timed("cold.studio", lambda: request("GET", STUDIO_PORT, "/")[0])
    timed("warm.studio", lambda: request("GET", STUDIO_PORT, "/")[0])
    time.sleep(PACE)
    stop_units(COCKPIT_UNITS)
    timed("cold.cockpit", lambda: request("GET", COCKPIT_PORT, "/")[0])
    timed("warm.cockpit", lambda: request("GET", COCKPIT_PORT, "/")[0])

stop_units(COCKPIT_UNITS)   # its socket listening again, should a cold round have left it down
for warm_up in (studio_login_once, cockpit_login):   # both warm: one untimed login each first
    try:
        warm_up()
    except (HTTPFailure, StopIteration, OSError):
        pass
for _ in range(rounds):
    timed("login.warm.studio", studio_login_once)
    timed("login.warm.cockpit", lambda: cockpit_login()[0])

for _ in range(rounds):
    time.sleep(PACE)
    stop_units("studiod.service", "studio-sandbox.service")
    timed("login.cold.studio", studio_login_once)
    time.sleep(PACE)
    stop_units(COCKPIT_UNITS)
    timed("login.cold.cockpit", lambda: cockpit_login()[0])

note("web", "sockets found down after their service's start limit and started again: "
            + (", ".join(f"{k} {v}×" for k, v in RESTARTED_SOCKETS.items()) or "none"))
