#!/usr/bin/env python3
"""Builds the dashboard's xterm.js from Debian's node-xterm (3.8.1, MIT) at package build time.

bookworm's libjs-xterm ships /usr/share/javascript/xterm/xterm.js as a 288-byte CommonJS stub
(`require("./public/Terminal")`) and a CommonJS fit addon: neither loads in a browser ("exports is not defined").
This wraps node-xterm's CommonJS modules (/usr/share/nodejs/xterm/lib) into one script that defines the global
`Terminal`, and the fit addon into the global `fit`; xterm.css is copied as it is.

usage: bundle-xterm.py NODE_XTERM_LIB LIBJS_XTERM_DIR OUTDIR
"""
import json
import os
import re
import shutil
import sys

if len(sys.argv) != 4:
    sys.exit(__doc__)
lib, libjs, out = sys.argv[1:]
if not os.path.isfile(os.path.join(lib, "public", "Terminal.js")):
    sys.exit(f"bundle-xterm.py: {lib}/public/Terminal.js is missing: install node-xterm (a Build-Depends)")
source_map = re.compile(r"//# sourceMappingURL=.*")
modules = {}
for root, _, files in os.walk(lib):
    for name in files:
        if name.endswith(".js") and not name.endswith(".test.js"):
            path = os.path.join(root, name)
            with open(path, encoding="utf-8") as f:
                modules[os.path.relpath(path, lib)[:-3]] = source_map.sub("", f.read())
parts = [
    "/* xterm.js 3.8.1 (MIT, Copyright (c) 2014-2018 The xterm.js authors), bundled from Debian's node-xterm */\n",
    "(function (root) {\n'use strict';\nvar defs = {}, cache = {};\n",
    "function norm(from, req) { var parts = from.split('/'); parts.pop();\n"
    "  req.split('/').forEach(function (s) { if (s === '..') parts.pop(); else if (s !== '.') parts.push(s); });\n"
    "  return parts.join('/'); }\n",
    "function load(id) { if (cache[id]) return cache[id].exports;\n"
    "  if (!defs[id]) throw new Error('xterm bundle: no module ' + id);\n"
    "  var module = cache[id] = { exports: {} };\n"
    "  defs[id](module, module.exports, function (r) { return load(norm(id, r)); });\n"
    "  return module.exports; }\n",
]
for name in sorted(modules):
    parts.append("defs[%s] = function (module, exports, require) {\n%s\n};\n" % (json.dumps(name), modules[name]))
parts.append("root.Terminal = load('public/Terminal').Terminal;\n})(typeof self !== 'undefined' ? self : this);\n")
os.makedirs(os.path.join(out, "addons", "fit"), exist_ok=True)
with open(os.path.join(out, "xterm.js"), "w", encoding="utf-8") as f:
    f.write("".join(parts))
with open(os.path.join(libjs, "addons", "fit", "fit.js"), encoding="utf-8") as f:
    fit = source_map.sub("", f.read())
with open(os.path.join(out, "addons", "fit", "fit.js"), "w", encoding="utf-8") as f:
    f.write("/* xterm.js 3.8.1 fit addon (MIT) */\n(function (root) {\nvar exports = {};\n%s\nroot.fit = exports;\n"
            "})(typeof self !== 'undefined' ? self : this);\n" % fit)
shutil.copyfile(os.path.join(libjs, "xterm.css"), os.path.join(out, "xterm.css"))
