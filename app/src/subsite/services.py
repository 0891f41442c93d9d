"""The running services: the subsite uWSGI app and the processes behind it."""

import os
import subprocess
import time
from pathlib import Path

from . import layout


def invoke(service, action, *args):
    """Run ``invoke-rc.d service action args``; return (ok, output)."""
    done = subprocess.run(["invoke-rc.d", service, action, *args], capture_output=True, text=True)
    return done.returncode == 0, (done.stdout + done.stderr).strip()


def uwsgi_master_pid():
    """Return the pid of the app's uWSGI master when it runs, else None."""
    try:
        pid = int(layout.UWSGI_PIDFILE.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def restart_app():
    """Restart the subsite uWSGI app (its start re-reads the prefix); return (ok, output)."""
    return invoke("uwsgi", "restart", layout.NAME)


def reload_app():
    """Gracefully reload the subsite uWSGI app; return (ok, output)."""
    return invoke("uwsgi", "reload", layout.NAME)


def workers(master, wait=5.0):
    """Return {pid: uid} of ``master``'s workers, waiting up to ``wait`` s for a
    master that has just started to fork them."""
    deadline = time.monotonic() + wait
    while True:
        found = children(master)
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def children(pid):
    """Return {pid: uid} of the direct children of ``pid`` (uWSGI's workers)."""
    found = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid):
            found[int(status.parent.name)] = int(fields["Uid"].split()[0])
    return found
