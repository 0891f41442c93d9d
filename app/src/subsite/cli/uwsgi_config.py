"""`subsite uwsgi-config`: what uWSGI runs, through ``ini = exec://``, at every start.

uWSGI reads this command's output as configuration before it daemonizes, so a
refused prefix makes `service uwsgi restart` fail at once and nothing serves a
wrong mount. As root (a start) it also brings nginx's locations in line with
the settings. As www-data (a graceful reload) it cannot touch nginx, so it
keeps the prefix nginx serves and says that a restart is needed to move it.
"""

import datetime
import os
import sys
from pathlib import Path

from .. import layout, nginx, settings

# What uWSGI mounts; SCRIPT_NAME is the prefix thanks to manage-script-name.
MOUNT = "[uwsgi]\nmount = {prefix}=subsite.wsgi:application\n"
# Another socket from the settings, which nginx's upstream names. uWSGI binds
# Debian's default (layout.UWSGI_SOCKET, from its default.ini) in any case.
SOCKET = "socket = {socket}\n"
# A refusal: uWSGI exits non-zero before it daemonizes.
ABORT = "[uwsgi]\nexec-asap = /bin/false\n"


def add_parser(subs):
    parser = subs.add_parser("uwsgi-config", help="print uWSGI's mount (run by uWSGI itself at start)")
    parser.set_defaults(run=run)


def tell_admin(message):
    """Say ``message`` on stderr, to whoever started uWSGI, and in the app's uWSGI log."""
    text = f"subsite: {message}\n"
    sys.stderr.write(text)
    sys.stderr.flush()
    caller = caller_stderr()
    if caller is not None:
        with caller:
            caller.write(text)
    stamp = datetime.datetime.now().strftime("%a %b %d %H:%M:%S %Y")
    try:
        with open(layout.UWSGI_LOG, "a", encoding="utf-8") as log:
            log.write(f"{stamp} {text}")
    except OSError:
        pass


def parent_pid(pid):
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def caller_stderr():
    """Open (to append) the stderr of the nearest ancestor whose stderr is not ours.

    Debian's init script sends uWSGI's output to /dev/null, but the shell that
    ran `service uwsgi restart` (or apt, for a postinst) still writes to the
    admin's terminal or log. None when there is no such ancestor or it is not
    ours to open (a graceful reload runs as www-data).
    """
    try:
        own = os.fstat(2)
        pid = os.getppid()
        while pid > 1:
            fd = f"/proc/{pid}/fd/2"
            if os.readlink(fd) != os.devnull:
                there = os.stat(fd)
                if (there.st_dev, there.st_ino) == (own.st_dev, own.st_ino):
                    return None        # the message is already there
                return open(fd, "a", encoding="utf-8")
            pid = parent_pid(pid)
    except (OSError, ValueError, IndexError):
        pass
    return None


def run(args):
    if os.geteuid() != 0:
        return reload_as_user()
    try:
        values = settings.load()
    except settings.SettingsError as error:
        tell_admin(f"refusing to start: {error}\nFix that line (see subsite(8)), then run: service uwsgi restart")
        print(ABORT, end="")
        return 1
    try:
        outcome = nginx.apply(values)
    except nginx.NginxError as error:
        tell_admin(f"refusing to start: {error}")
        print(ABORT, end="")
        return 1
    if outcome.warning:
        tell_admin(f"warning: {outcome.warning}")
    print(config(values.prefix, values.socket), end="")
    return 0


def config(prefix, socket):
    """uWSGI's configuration: the mount, and ``socket`` when it is not Debian's default."""
    extra = SOCKET.format(socket=socket) if socket != str(layout.UWSGI_SOCKET) else ""
    return MOUNT.format(prefix=prefix) + extra


def reload_as_user():
    """Keep the prefix nginx serves: only a start, as root, may move it."""
    applied = nginx.applied_prefix()
    try:
        values = settings.load()
        wanted = values.prefix
    except settings.SettingsError as error:
        values = settings.Settings()
        wanted = None
        tell_admin(f"warning: {error}; keeping the prefix in force")
    if applied is None:
        applied = wanted or ""
    elif wanted is not None and wanted != applied:
        tell_admin(f"warning: the settings say prefix {wanted!r} but {applied!r} stays in force "
                   "until: service uwsgi restart")
    print(config(applied, values.socket), end="")
    return 0
