"""The app proxy: wrk against the same app (an nginx serving files, run by the workspace as its app on
$STUDIO_APP_SOCKET, also listening on 127.0.0.1:8089) three ways, interleaved round by round:

  app.*.studio   through studiod's apps origin (:7081, the app cookie from a ticket) → broker relay → agent → socket
  app.*.nginx    through Debian's nginx (:8088, `proxy_pass http://unix:SOCKET:`, its defaults) → the same socket
  app.*.direct   the app itself on TCP (:8089)

  app.small.*    requests/s of a 1 KB page;  app.big.*  MB/s of a 1 MB file
Only 2xx answers count: wrk's non-2xx answers and socket errors are reported as errors (KEY.errors) and taken out
of the rate.

usage: python3 probe_apps.py ROUNDS SECONDS CONNECTIONS WORKSPACE APP
"""
import glob
import os
import json
import re
import subprocess
import sys
import time

from common import (APPS_PORT, STUDIO_ORIGIN, STUDIO_PORT, USER, HTTPFailure, emit, fail, note, request, sh,
                    studio_login)

rounds, seconds, connections, workspace, app = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
prefix = f"/{USER}/{workspace}/apps/{app}/"

_, session = studio_login()
_, _, body = request("POST", STUDIO_PORT, f"/api/v1/workspaces/{workspace}/apps/{app}/ticket",
                     headers={"Cookie": session, "Origin": STUDIO_ORIGIN})
url = json.loads(body)["url"]
_, opened, _ = request("GET", APPS_PORT, url.split(f":{APPS_PORT}", 1)[1], expect=(302, 303))
app_cookie = next(c.split(";")[0] for c in opened.headers.get_all("Set-Cookie") if c.startswith("studio_app="))

deadline, studio_answers = time.monotonic() + 30, True
while True:
    try:
        request("GET", APPS_PORT, prefix, headers={"Cookie": app_cookie})
        break
    except HTTPFailure as e:
        if time.monotonic() > deadline:
            for size in ("small", "big"):
                fail(f"app.{size}.studio", f"the app does not answer through studiod for 30 s: {e}")
            studio_answers = False
            break
        time.sleep(0.5)

sockets = glob.glob(f"/tmp/systemd-private-*-studio-ws-{USER}-{workspace}.service-*/tmp/studio-apps/*")
if len(sockets) != 1:
    sys.exit(f"cannot find the app's socket: {sockets}")
# The socket's path is longer than nginx takes (sun_path): a link to it (connect follows it).
link = "/run/bench-app.sock"
if os.path.lexists(link):
    os.unlink(link)
os.symlink(sockets[0], link)
with open("/etc/nginx/sites-enabled/bench-proxy", "w") as f:
    f.write("server {\n    listen 127.0.0.1:8088;\n"
            f"    location / {{ proxy_pass http://unix:{link}:; }}\n}}\n")
restarted = sh("systemctl", "restart", "nginx.service", check=False)
nginx_ok = restarted.returncode == 0
if not nginx_ok:
    for size in ("small", "big"):
        fail(f"app.{size}.nginx", f"nginx did not start: {restarted.stderr.strip()}")
note("app", f"wrk -t1 -c{connections} -d{seconds}s, {rounds} rounds; the app's socket {sockets[0]}")

TARGETS = {
    "studio": (f"http://127.0.0.1:{APPS_PORT}{prefix}", ["-H", f"Cookie: {app_cookie}"]),
    "nginx": ("http://127.0.0.1:8088/", []),
    "direct": ("http://127.0.0.1:8089/", []),
}
SIZES = {"small": "", "big": "big.bin"}
UNITS = {"k": 1e3, "m": 1e6, "g": 1e9, "kb": 1024, "mb": 1024 ** 2, "gb": 1024 ** 3, "b": 1}


def number(text):
    m = re.fullmatch(r"([\d.]+)([a-zA-Z]*)", text)
    return float(m.group(1)) * UNITS.get(m.group(2).lower(), 1)


def wrk(key, url, extra):
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", *extra, url], capture_output=True, text=True)
    if out.returncode != 0:
        return fail(key, f"wrk exited {out.returncode}: {out.stderr.strip()}")
    text = out.stdout
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+), ([\d.]+\w+) read", text)
    if not m:
        return fail(key, f"wrk said: {text!r}")
    requests, duration, bytes_read = int(m.group(1)), number(m.group(2)) if m.group(3) == "s" else float(m.group(2)) * 60, number(m.group(4))
    non2xx = sum(int(x) for x in re.findall(r"Non-2xx or 3xx responses: (\d+)", text))
    socket_errors = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", text.split("Socket errors:", 1)[1].split("\n")[0])) if "Socket errors:" in text else 0
    good = max(requests - non2xx, 0)
    emit(f"{key}.errors", non2xx + socket_errors)
    if good == 0:
        return fail(key, f"no 2xx answer: {text!r}")
    if key.startswith("app.small"):
        emit(key, good / duration)
    else:
        emit(key, bytes_read * good / requests / duration / 1e6)


for _ in range(rounds):
    for size, path in SIZES.items():
        for name, (base, extra) in TARGETS.items():
            if (name == "studio" and not studio_answers) or (name == "nginx" and not nginx_ok):
                continue
            wrk(f"app.{size}.{name}", base + path, extra)
