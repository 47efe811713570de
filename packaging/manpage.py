#!/usr/bin/python3
"""Writes studioctl(1) from the argument parser's own description of the command.

    studioctl --experimental-dump-help | packaging/manpage.py > studioctl.1

The help text, options and subcommands all come from the parser (the same data swift-argument-parser's
generate-manual plugin renders); only the exit statuses, files and examples below are written here.
"""
import json
import sys

EXTRA = r"""
.SH EXIT STATUS
.TP
.B 0
Success.
.TP
.B 64
Bad usage: an unknown option or a missing argument; for
.BR "image build" ,
a name, suite, package, mirror or variant that is not valid (nothing is made).
.TP
.B 65
Bad input: a workspace name, project directory, template or limit that is not valid.
.TP
.B 66
No such workspace or user.
.TP
.B 69
studiod or the broker cannot be reached; see
.BR "systemctl status studiod.socket studio-sandbox.socket" .
For
.BR "image build" :
debootstrap is not installed
.RB ( "apt install debootstrap" ).
.TP
.B 70
The broker failed; see
.BR "journalctl -u studio-sandbox" .
For
.BR "image build" :
debootstrap failed or the build was interrupted (Ctrl-C, SIGTERM); the temporary tree was removed and the message
ends with debootstrap's last lines.
.TP
.B 71
systemd refused to start or change the workspace's unit.
.TP
.B 73
.B image build
found the image there already
.RB ( "machinectl remove NAME" ,
or pick another name), or cannot make its directory.
.TP
.B 74
.B delete --purge
deleted the workspace but could not remove all of its project directory (it is removed as the workspace's
owner, with the owner's rights only).
.TP
.B 75
Conflict: the workspace exists already, or is not running; or busy: you hold too many broker connections or
.B logs -f
streams at once (retry after closing some).
.TP
.B 77
Permission denied: the workspace is not yours, or your account may not have workspaces (system accounts,
accounts without a login shell, locked or expired accounts, and, with
.B [Access] Group=
set, accounts outside that group); or
.B image build
was not run as root.
.TP
.B 78
Studio's configuration is broken; the message names the file and line.
.PP
.B exec
exits with the command's own exit status.
.SH FILES
.TP
.I /etc/studio/studio.conf, /etc/studio/studio.conf.d/*.conf
Settings: idle periods, default limits and ceilings.
.TP
.I /etc/studio/templates/*.conf, /usr/share/studio/templates/*.conf
Workspace templates.
.TP
.I /run/studio/sandbox.sock, /run/studio/studiod.sock
The broker's and studiod's sockets.
.TP
.I /var/lib/studio/workspaces/ID/upper, /var/lib/studio/workspaces/ID/home
A container workspace's own layer over its image (what root installed or changed inside) and its home; dropped by
.B reset
(the home only with
.BR \-\-home )
and by
.BR delete .
.TP
.I /var/lib/machines/NAME
Container images: OS trees (systemd's place, shared with
.BR machinectl (1)).
.B image build
works in
.I /var/lib/machines/.NAME.build\-XXXXXX
and renames it into place.
.SH EXAMPLES
.nf
cd ~/src/myproject && studioctl start myproject
studioctl status myproject
studioctl set myproject \-\-memory 2G \-\-cpus 1.5
studioctl exec myproject \-\- make test
studioctl logs \-f myproject
sudo studioctl image build bookworm \-\-packages git,build\-essential
studioctl images
studioctl start box \-\-template container
studioctl exec box \-\-root \-\- apt\-get install \-y ripgrep
studioctl shell box \-\-root
studioctl stop box && studioctl reset box
.fi
.SH SEE ALSO
.BR systemctl (1),
.BR journalctl (1),
.BR debootstrap (8),
.BR machinectl (1),
.BR systemd\-nspawn (1),
.BR systemd.resource-control (5)
"""


def esc(text):
    return (text or "").replace("\\", "\\\\").replace("-", "\\-").replace("\n.", "\n\\&.")


def synopsis(args):
    parts = []
    for arg in args:
        if not arg.get("shouldDisplay", True) or arg["kind"] == "flag" and arg["preferredName"]["name"] in ("help", "version"):
            continue
        if arg["kind"] == "positional":
            text = "<" + arg["valueName"] + ">"
        else:
            name = arg["preferredName"]
            text = ("-" if name["kind"] == "short" else "--") + name["name"]
            if arg["kind"] == "option":
                text += " <" + arg["valueName"] + ">"
        if arg.get("isRepeating"):
            text += " ..."
        parts.append("[" + text + "]" if arg.get("isOptional") else text)
    return " ".join(parts)


def options(args):
    out = []
    for arg in args:
        if not arg.get("shouldDisplay", True):
            continue
        if arg["kind"] == "positional":
            head = "\\fI" + esc(arg["valueName"]) + "\\fR"
        else:
            names = [("-" if n["kind"] == "short" else "--") + n["name"] for n in arg.get("names", [])]
            head = ", ".join("\\fB" + esc(n) + "\\fR" for n in names)
            if arg["kind"] == "option":
                head += " \\fI" + esc(arg["valueName"]) + "\\fR"
        out.append(".TP\n" + head + "\n" + esc(arg.get("abstract", "")))
    return "\n".join(out)


def main():
    root = json.load(sys.stdin)["command"]
    name = root["commandName"]
    out = [
        '.TH %s 1 "" "Studio" "User Commands"' % name.upper(),
        ".SH NAME",
        "%s \\- %s" % (name, esc(root.get("abstract", ""))),
        ".SH SYNOPSIS",
        ".B %s\n.I command\n[options]" % name,
        ".SH DESCRIPTION",
        esc(root.get("discussion") or root.get("abstract", "")),
        "Who you are is taken from the kernel (the socket's peer credentials): there is no password locally. "
        "NAME is one of your workspaces; root may write OWNER/NAME.",
        ".SH COMMANDS",
    ]
    def command(sub, prefix=""):
        if sub["commandName"] == "help":
            return
        name = prefix + sub["commandName"]
        children = [c for c in sub.get("subcommands", []) if c["commandName"] != "help"]
        if children:  # a group (`image`): its commands, each with its full name (`image build`)
            for child in children:
                command(child, name + " ")
            return
        out.append(".SS %s %s" % (esc(name), esc(synopsis(sub.get("arguments", [])))))
        out.append(esc(sub.get("abstract", "")))
        if sub.get("discussion"):
            out.append(".PP\n" + esc(sub["discussion"]))
        opts = options(sub.get("arguments", []))
        if opts:
            out.append(opts)

    for sub in root.get("subcommands", []):
        command(sub)
    out.append(EXTRA.strip())
    sys.stdout.write("\n".join(out) + "\n")


main()
