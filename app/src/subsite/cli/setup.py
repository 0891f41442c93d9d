"""`subsite setup`: what the postinst runs on configure. Idempotent.

It creates the settings file (holding the debconf answer), the secret key and
the data directories, enables the uWSGI app (and the nginx site with it, see
enable_app), tests nginx's configuration before every reload, and (re)starts
the app.
"""

import ctypes.util
import os
import pwd
import shutil
import subprocess
from pathlib import Path

from .. import layout, nginx, prefix, services, settings
from . import uwsgi_config
from .common import OK, Refused, ensure_dir, ensure_secret_key, link_to, render_settings, warn, write_file


def add_parser(subs):
    parser = subs.add_parser("setup", help="create or update the installation (run by the postinst)")
    parser.add_argument("--prefix", help="the prefix debconf holds; a refused one is reported and ignored")
    parser.set_defaults(run=run)


def write_settings(wanted):
    """Create the settings file, or set its prefix to ``wanted``; return the Settings."""
    path = layout.SETTINGS_FILE
    ensure_dir(path.parent)
    if not path.exists():
        values = settings.Settings() if wanted is None else settings.Settings(prefix=wanted)
        write_file(path, render_settings(values))
        return values
    text = path.read_text(encoding="utf-8")
    try:
        current = settings.parse(text, path)
    except settings.SettingsError as error:
        raise Refused(f"{error}\nFix that line, then run: dpkg-reconfigure subsite") from None
    if wanted is None or wanted == current.prefix:
        return current
    new_text = settings.with_prefix(text, wanted)
    values = settings.parse(new_text, path)
    write_file(path, new_text)
    return values


def enable(link, target):
    """Point ``link`` at ``target`` (relative); return True when it was created.

    Anything else already at ``link`` (a file, a link elsewhere) is the
    admin's: it is left alone, with a warning.
    """
    link, target = Path(link), Path(target)
    relative = link_to(target)
    if link.is_symlink() and Path(link.readlink()) in (relative, target):
        return False
    if link.is_symlink() or link.exists():
        warn(f"{link} is not the package's link to {target}; left as it is")
        return False
    link.symlink_to(relative)
    return True


def enable_nginx_site():
    """Enable the site; take it back out if it is what breaks nginx's test. Return True when enabled now."""
    before = nginx.test_config()
    if not enable(layout.NGINX_SITE_LINK, layout.NGINX_SITE_FILE):
        return False
    after = nginx.test_config()
    if after and not before:
        layout.NGINX_SITE_LINK.unlink()
        raise Refused(f"nginx refused {layout.NGINX_SITE_FILE}, so it stays disabled:\n{after}")
    return True


def enable_app():
    """Enable the app, and the nginx site with it; return True when the site was enabled now.

    The site goes in only when the app does: on the first install, or after
    `subsite disable` (the prerm's remove) took both out. While the app stays
    enabled (an upgrade, dpkg-reconfigure), a site the admin disabled, to serve
    subsite from their own server block, stays disabled. Under systemd the app
    is its units; without, Debian's uwsgi init script runs it from apps-enabled.
    """
    if services.systemd_running():
        newly = not layout.UWSGI_APP_LINK.is_symlink() and not units_enabled()
        services.systemctl("daemon-reload")         # the units may be new
        ok, output = services.enable_units()
        if not ok:
            raise Refused(f"could not enable {' and '.join(layout.SYSTEMD_UNITS)}: {output}")
    else:
        newly = enable(layout.UWSGI_APP_LINK, layout.UWSGI_APP_FILE)
    return enable_nginx_site() if newly else False


def units_enabled():
    """Tell whether the app's systemd units are enabled."""
    return services.systemctl("is-enabled", "--quiet", layout.SYSTEMD_SOCKET)[0]


def prepare_dirs(values):
    """Create the data directories, and root's own beside them.

    The database's directory must let www-data create files (SQLite's -wal and
    -shm beside it), so it is root's, group www-data, sticky (1770): www-data
    may add files but not rename or remove root's. What root generates for
    nginx lives apart, in a directory of root's alone.
    """
    ensure_dir(layout.NGINX_DIR)
    ensure_dir(layout.STATE_DIR, group=layout.WEB_USER, mode=0o1770)
    prepare_uploads_dir(Path(values.uploads))


def prepare_uploads_dir(path):
    """Make the uploads directory www-data's; one the admin made elsewhere is checked, never given away.

    The settings already refused system and state directories by name; a link
    on the way could still lead into one, so the real path is checked too.
    """
    try:
        settings.refuse_uploads_dir(Path(os.path.realpath(path)))
    except ValueError as error:
        raise Refused(f"{layout.SETTINGS_FILE}: uploads = {path} is refused: it leads to {os.path.realpath(path)}, "
                      f"and {error}") from None
    if path == layout.UPLOADS_DIR or not path.exists():
        ensure_dir(path, owner=layout.WEB_USER, mode=0o755)
        return
    info = path.stat()
    if not path.is_dir() or info.st_uid != pwd.getpwnam(layout.WEB_USER).pw_uid:
        raise Refused(f"{path} (uploads in {layout.SETTINGS_FILE}) is not a directory of {layout.WEB_USER}'s, and "
                      f"subsite does not give away a directory it did not make: chown {layout.WEB_USER} {path}, "
                      "or name a new directory, then run: dpkg-reconfigure subsite")


def drop_old_nginx_dir():
    """Remove release 1.0.0's generated files from the data directory once no conffile includes them."""
    if nginx.legacy_copies():
        warn(f"{', '.join(map(str, nginx.LEGACY_INCLUDES))}: your copy still includes files from "
             f"{layout.OLD_NGINX_DIR}/, inside the directory www-data may write to. subsite keeps them up to "
             f"date there until you take this release's version of the file (<file>.dpkg-dist, or "
             f"'apt install --reinstall -o Dpkg::Options::=--force-confnew subsite').")
        return
    layout.OLD_DEBCONF_SYNCED_FILE.unlink(missing_ok=True)
    if layout.OLD_NGINX_DIR.is_dir() and not layout.OLD_NGINX_DIR.is_symlink():
        shutil.rmtree(layout.OLD_NGINX_DIR)       # removes links, never follows them


def start_app(values, served):
    """Start the app, or reload it gracefully when the prefix and socket in force stay as they are."""
    if services.systemd_running() and (layout.UWSGI_APP_LINK.is_symlink() or services.init_script_master_pid()):
        return take_over_from_init_script()
    if services.uwsgi_master_pid() and served == (values.prefix, values.upstream):
        return services.reload_app()
    return services.restart_app()


def take_over_from_init_script():
    """Move an app Debian's init script runs (release 1.0.0, or before systemd) to subsite's units.

    systemd's socket takes the socket's path first, so new requests wait for
    subsite.service; the old instance then finishes what it had and ends. The
    run directory it made for www-data becomes root's before systemd binds there.
    """
    old = services.init_script_master_pid()
    uwsgi_config.take_back_run_dir(keep=True)
    layout.UWSGI_APP_LINK.unlink(missing_ok=True)
    ok, output = services.app("start")
    if old:
        services.retire_init_script_master(old)
        layout.UWSGI_PIDFILE.unlink(missing_ok=True)
    return ok, output


# libc-bin's, by its full path: not looked up on a PATH the caller chose.
LDCONFIG = "/sbin/ldconfig"


def find_libpq(find=ctypes.util.find_library, run=subprocess.run):
    """Make sure libpq (a dependency, for PostgreSQL) can be found by name, as psycopg looks for it.

    psycopg finds libpq through the dynamic linker's cache. A libpq5
    installed in the same apt run as this package enters that cache only when
    libc-bin's trigger runs, after this postinst; so the cache is brought up
    to date here (ldconfig, what the trigger runs) before the settings, which
    may name a PostgreSQL database, are read and the app starts.
    """
    if find("pq") is None:
        try:
            run([LDCONFIG], check=False)
        except OSError as error:
            warn(f"could not run {LDCONFIG} to find libpq ({error}); a PostgreSQL database may be refused "
                 f"until it runs")


def run(args):
    find_libpq()
    wanted = None
    if args.prefix is not None:
        try:
            wanted = prefix.normalize(args.prefix)
        except prefix.PrefixError as error:
            warn(f"the prefix {args.prefix!r} from debconf is refused: {error}. Keeping the current one.")
    values = write_settings(wanted)
    prepare_dirs(values)
    ensure_secret_key()
    write_file(layout.DEBCONF_SYNCED_FILE, values.prefix + "\n")
    served = (nginx.applied_prefix(), nginx.applied_upstream())

    try:
        outcome = nginx.apply(values)
    except nginx.NginxError as error:
        raise Refused(str(error)) from None
    site_enabled_now = enable_app()
    problem = nginx.test_config()
    if problem:
        warn("nginx's configuration fails its test because of another file, so nginx was not reloaded "
             f"and keeps running on its old configuration. subsite answers once this is fixed:\n{problem}")
    else:
        note = nginx.reload() if site_enabled_now else nginx.reload_if_changed()
        if note:
            warn(note)
    if outcome.warning and not problem:
        warn(outcome.warning)
    drop_old_nginx_dir()

    ok, output = start_app(values, served)
    if not ok:
        warn(f"the uWSGI app did not start; see {layout.UWSGI_LOG} and run 'subsite check'.\n{output}")
    elif not services.uwsgi_master_pid():
        # invoke-rc.d and deb-systemd-invoke answer 0 when policy-rc.d forbids starting services.
        warn("the uWSGI app is not running (was starting services forbidden?); "
             f"start it with: {services.start_hint()}")
    return OK
