"""`subsite uwsgi-config`: what uWSGI runs, through ``ini = exec://``, at every start.

uWSGI reads this command's output as configuration before it serves, so a
refused prefix makes the start fail at once and nothing serves a wrong mount.
The root step of a start checks the settings and the Python uWSGI embeds,
and brings nginx's locations in line with the settings:

- without systemd, Debian's init script starts uWSGI as root, and this command
  does that step itself before printing the mount;
- under systemd, subsite.service runs ``subsite uwsgi-config --apply`` as root
  first (ExecStartPre=+), and uWSGI, already www-data, runs it only for the mount.

As www-data (systemd, or a graceful reload) it cannot touch nginx, so it prints
the prefix nginx serves and says when the settings want another one.
"""

import datetime
import grp
import os
import pwd
import re
import shutil
import stat
import sys
from pathlib import Path

from .. import layout, nginx, postgres, services, settings
from .common import Refused, ensure_dir

# What uWSGI mounts; SCRIPT_NAME is the prefix thanks to manage-script-name.
MOUNT = "[uwsgi]\nmount = {prefix}=subsite.wsgi:application\n"
# Another socket from the settings, which nginx's upstream names. uWSGI listens
# on Debian's default (layout.UWSGI_SOCKET) in any case.
SOCKET = "socket = {socket}\n"
# With PostgreSQL: the mule that follows the board's generation written by other hosts.
MULE = "mule = {program}\n"
# Its program, by path (uWSGI runs it as a file); not imported here, which would load the app.
POLLER = Path(__file__).resolve().parent.parent / "poller.py"
# A refusal: uWSGI exits non-zero before it serves.
ABORT = "[uwsgi]\nexec-asap = /bin/false\n"
# Debian's init script names the app it starts in uWSGI's environment.
INIT_SCRIPT_APP = "UWSGI_DEB_CONFNAME"


class StartRefused(Exception):
    """The app must not start; str() says why and what to do."""


def add_parser(subs):
    parser = subs.add_parser("uwsgi-config", help="print uWSGI's mount (run by uWSGI itself at start)")
    parser.add_argument("--apply", action="store_true",
                        help="only the root step of a start, printing nothing (systemd's ExecStartPre)")
    parser.set_defaults(run=run)


def tell_admin(message):
    """Say ``message`` on stderr (the journal, under systemd), to whoever started uWSGI, and in the app's log."""
    text = f"subsite: {message}\n"
    sys.stderr.write(text)
    sys.stderr.flush()
    caller = None if services.systemd_running() else caller_stderr()
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
    try:
        check_python()
        if os.geteuid() != 0:
            return reload_as_user(args)
        values = prepare_start()
    except StartRefused as error:
        tell_admin(f"refusing to start: {error}")
        if not args.apply:
            print(ABORT, end="")
        return 1
    if not args.apply:
        print(config(values.prefix, values.socket, values.database), end="")
    return 0


def prepare_start():
    """The root step of a start: settings, run directory, log file, the generation's directory, nginx;
    return the Settings."""
    try:
        values = settings.load()
    except settings.SettingsError as error:
        raise StartRefused(f"{error}\nFix that line (see subsite(8)), then run: service uwsgi restart") from None
    if services.systemd_running():
        open_log_for_app()
    elif os.environ.get(INIT_SCRIPT_APP) == layout.NAME:
        take_back_run_dir()
    try:
        make_generation_dir()
    except Refused as error:
        raise StartRefused(str(error)) from None
    try:
        outcome = nginx.apply(values)
    except nginx.NginxError as error:
        raise StartRefused(str(error)) from None
    if outcome.warning:
        tell_admin(f"warning: {outcome.warning}")
    return values


def plugin_python(plugin=None):
    """Return the Python version ("3.13") uWSGI's python3 plugin embeds, or None if it is missing."""
    try:
        data = Path(plugin or layout.UWSGI_PYTHON_PLUGIN).read_bytes()
    except OSError:
        return None
    found = re.search(rb"libpython(3\.\d+)", data)
    return found[1].decode() if found else None


def check_python(plugin=None):
    """Refuse to start when uWSGI's Python is not the one the venv was built for.

    After a Debian release upgrade uWSGI's plugin embeds the new python3 while
    a venv built for the old one fails to import: refuse with the fix instead.
    """
    venv = "%d.%d" % sys.version_info[:2]
    embedded = plugin_python(plugin)
    if embedded is None:
        raise StartRefused(f"{plugin or layout.UWSGI_PYTHON_PLUGIN} is missing or unreadable; "
                           "install it: apt install uwsgi-plugin-python3")
    if embedded != venv:
        raise StartRefused(f"subsite's virtualenv ({layout.VENV_DIR}) is built for Python {venv} but uWSGI's "
                           f"python3 plugin embeds Python {embedded}. Install the subsite package built for "
                           "this Debian release (apt update && apt install subsite); it restarts the app.")


def take_back_run_dir(keep=False):
    """Make the run directory Debian's init script made for the app root's again, and empty (unless ``keep``).

    The script creates it owned by the app's user (www-data), then as root lets
    uWSGI write the pid file there and chowns it, following links: any www-data
    process could put a link to /etc/shadow in its place. This runs in uWSGI
    before either, so root only ever acts in a directory of its own. ``keep``
    leaves a running instance's socket and pid file (subsite setup's move to
    systemd). The directory's group is www-data and set-group-ID, so a socket
    made there belongs to that group (0660: nginx may connect) from its first
    moment, before its owner is set: no request is refused in between.
    """
    try:
        fd = os.open(layout.UWSGI_RUN_DIR, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return
    except OSError:
        raise StartRefused(f"{layout.UWSGI_RUN_DIR} should be a directory but is a link or a file; "
                           "remove it, then run: service uwsgi restart") from None
    try:
        os.fchown(fd, 0, grp.getgrnam(layout.WEB_USER).gr_gid)
        os.fchmod(fd, 0o2755)
        for name in [] if keep else os.listdir(fd):
            # Leftovers of a killed instance, or whatever www-data put there.
            if stat.S_ISDIR(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode):
                shutil.rmtree(name, dir_fd=fd)
            else:
                os.unlink(name, dir_fd=fd)
    finally:
        os.close(fd)


def make_generation_dir():
    """Make the directory the app publishes the board's generation in (in memory: gone at each boot), its user's;
    a link or a file in its place is refused (common.Refused)."""
    ensure_dir(layout.GENERATION_DIR, owner=layout.WEB_USER, mode=0o755)


def open_log_for_app():
    """Create the app's log file for uWSGI, which runs as www-data under systemd, without following a link."""
    fd = os.open(layout.UWSGI_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o640)
    try:
        os.fchown(fd, pwd.getpwnam(layout.WEB_USER).pw_uid, _gid("adm"))
        os.fchmod(fd, 0o640)
    finally:
        os.close(fd)


def _gid(group):
    """The gid of ``group`` (Debian's log readers, adm), else root's."""
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        return 0


def config(prefix, socket, database=layout.DATABASE_FILE):
    """uWSGI's configuration: the mount, ``socket`` when it is not Debian's default, and with a
    PostgreSQL ``database`` the poller's mule."""
    extra = SOCKET.format(socket=socket) if socket != str(layout.UWSGI_SOCKET) else ""
    if postgres.is_url(database):
        extra += MULE.format(program=POLLER)
    return MOUNT.format(prefix=prefix) + extra


def reload_as_user(args):
    """Keep the prefix nginx serves: only the root step of a start may move it."""
    if args.apply:
        raise StartRefused("--apply is the root step of a start; run it as root")
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
    print(config(applied, values.socket, values.database), end="")
    return 0
