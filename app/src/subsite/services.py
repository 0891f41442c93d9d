"""The running services: the subsite uWSGI app and the processes behind it.

Two init systems run the app. Under systemd (what a Debian server boots) the
units subsite.socket and subsite.service do: every start goes through
systemctl, so the app lives in its unit's cgroup whoever asked (a shell, cron,
a oneshot unit, apt), and systemd holds the socket while the app restarts.
Without systemd (containers, chroots) Debian's uwsgi init script runs it from
/etc/uwsgi/apps-enabled, for this app alone. Either way only this app is
touched: never `systemctl ACTION uwsgi.service` or the init script for all apps.
"""

import os
import signal
import subprocess
import time
from pathlib import Path

from . import layout

# invoke-rc.d --query's answers that let an action run: 104 allowed by
# policy-rc.d and the runlevel links, 105 no policy either way.
RUN_ALLOWED = (104, 105)


def systemd_running():
    """Tell whether systemd is the init system (sd_booted(3))."""
    return Path("/run/systemd/system").is_dir()


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


def systemctl(*args):
    """Run systemctl with ``args``; return (ok, output)."""
    return _run(["systemctl", *args])


def _run(command, env=None):
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    return done.returncode == 0, (done.stdout + done.stderr).strip()


def app(action):
    """Run ``action`` (start, stop, restart, reload) on the app alone; return (ok, output).

    Under systemd it goes through deb-systemd-invoke, which asks policy-rc.d
    as invoke-rc.d does, and waits for the job; `stop` takes the socket down too.
    """
    if not systemd_running():
        return invoke("uwsgi", action, layout.NAME)
    units = layout.SYSTEMD_UNITS if action == "stop" else (layout.SYSTEMD_SERVICE,)
    if action in ("start", "restart"):
        systemctl("reset-failed", *layout.SYSTEMD_UNITS)     # a failed socket or a start limit hit earlier
    return _run(["deb-systemd-invoke", action, *units])


def enable_units(action="enable"):
    """Enable (or ``disable``) the app's systemd units; return (ok, output).

    debhelper's part of the postinst records the links they make, so a purge
    removes them.
    """
    return systemctl(action, "--quiet", *layout.SYSTEMD_UNITS)


def start_hint():
    """The command an admin runs to start the app by hand."""
    if systemd_running():
        return f"systemctl start {layout.SYSTEMD_SERVICE}"
    return f"service uwsgi start {layout.NAME}"


def restart_app():
    """Restart the subsite uWSGI app (its start re-reads the prefix); return (ok, output)."""
    return app("restart")


def reload_app():
    """Gracefully reload the subsite uWSGI app; return (ok, output)."""
    return app("reload")


def live_pid(pidfile):
    """Return the pid written in ``pidfile`` when that process is alive, else None.

    The file is opened without following a link, and what it holds is only
    ever a number to look up.
    """
    try:
        fd = os.open(pidfile, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd) as handle:
            pid = int(handle.read(32).strip())
        if pid <= 1:
            return None
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def uwsgi_master_pid():
    """Return the pid of the app's uWSGI master when it runs, else None."""
    if systemd_running():
        ok, output = systemctl("show", "--property=MainPID", "--value", layout.SYSTEMD_SERVICE)
        pid = int(output) if ok and output.isdigit() else 0
        return pid or None
    return init_script_master_pid()


def init_script_master_pid():
    """Return the pid of an app master Debian's init script started (its pid file), else None."""
    pid = live_pid(layout.UWSGI_PIDFILE)
    return pid if pid is not None and is_uwsgi(pid) else None


def is_uwsgi(pid):
    """Tell whether process ``pid`` runs uWSGI."""
    try:
        return Path(f"/proc/{pid}/exe").resolve().name.startswith("uwsgi")
    except OSError:
        return False


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


def wait_gone(pids, timeout):
    """Wait until none of ``pids`` is alive; return the ones still alive after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    alive = set(pids)
    while alive:
        alive = {pid for pid in alive if _alive(pid)}
        if not alive or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    return alive


def _alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def retire_init_script_master(master, drain=1.0, timeout=30.0):
    """Stop an app master Debian's init script started, without dropping a request.

    Called once the socket's path belongs to systemd's socket unit: no new
    connection reaches the old master. Its queue drains for ``drain`` seconds;
    then each worker is told to finish its request and exit (SIGHUP), and the
    master is ended (SIGINT) with the workers it respawned, idle by then.
    """
    time.sleep(drain)
    old = list(children(master))
    for pid in old:
        _signal(pid, signal.SIGHUP)
    wait_gone(old, timeout)
    _signal(master, signal.SIGINT)
    if wait_gone([master], timeout):
        _signal(master, signal.SIGKILL)


def _signal(pid, number):
    try:
        os.kill(pid, number)
    except ProcessLookupError:
        pass
