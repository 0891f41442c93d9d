"""The running services: the subsite uWSGI app and the processes behind it."""

import os
import subprocess
import time
from pathlib import Path

from . import layout


# invoke-rc.d --query's answers that let an action run: 104 allowed by
# policy-rc.d and the runlevel links, 105 no policy either way.
RUN_ALLOWED = (104, 105)


def invoke(service, action, *args):
    """Run ``action`` on ``service``'s init script, as invoke-rc.d allows; return (ok, output).

    With ``args`` (an app's name), invoke-rc.d only answers whether the action
    may run: under systemd it would run ``systemctl ACTION uwsgi.service`` and
    drop the name, stopping or restarting every uWSGI app on the machine. The
    init script then runs itself, SYSTEMCTL_SKIP_REDIRECT keeping it from
    handing over to systemctl.
    """
    if not args:
        return _run(["invoke-rc.d", service, action])
    allowed = subprocess.run(["invoke-rc.d", "--quiet", "--query", service, action],
                             capture_output=True, text=True).returncode
    if allowed == 101:
        return True, f"policy-rc.d denied execution of {action} ({service} {' '.join(args)})."
    if allowed not in RUN_ALLOWED:
        return False, f"invoke-rc.d --query {service} {action} answered {allowed}"
    return _run([f"/etc/init.d/{service}", action, *args], env={**os.environ, "SYSTEMCTL_SKIP_REDIRECT": "1"})


def _run(command, env=None):
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    return done.returncode == 0, (done.stdout + done.stderr).strip()


def live_pid(pidfile):
    """Return the pid written in ``pidfile`` when that process is alive, else None."""
    try:
        pid = int(Path(pidfile).read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def uwsgi_master_pid():
    """Return the pid of the app's uWSGI master when it runs, else None."""
    return live_pid(layout.UWSGI_PIDFILE)


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
    """Return {pid: uid} of the direct children of ``pid`` (a master's workers)."""
    found = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid):
            found[int(status.parent.name)] = int(fields["Uid"].split()[0])
    return found
