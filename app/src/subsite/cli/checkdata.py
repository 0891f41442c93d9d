"""`subsite check`'s checks of the data: the database (which one, reachable, its schema) and the images' store.

Each step runs as the app's user (migrate.as_web_user), as `subsite migrate`
does: the SQLite file, and the passfile libpq reads for PostgreSQL, are
www-data's, and root reaching the database would prove nothing about the
app. It connects as the app does (postgres.py's timeouts) and changes
nothing: no SQLite file is made, no migration applied.
"""

import os
import pwd
import stat

from .. import dbmove, layout, postgres
from .common import Refused
from .migrate import as_web_user

RESTART = "systemctl restart subsite (or service uwsgi restart)"


def check_data(checks, values, error=None):
    """Check the database and the images' store of ``values`` (Settings; None when ``error``, a SettingsError)."""
    if values is None:
        if error is not None and error.key == "database":
            checks.item("database setting", str(error), f"write that line as database = {layout.DATABASE_FILE} "
                        f"(SQLite) or as a URL such as {postgres.EXAMPLE}, then: {RESTART}")
        else:
            checks.skip("database and images", "the settings file cannot be read (see above)")
        return
    database = str(values.database)
    usable = database_checks(checks, database)
    store_checks(checks, str(values.uploads), database, usable)


def database_checks(checks, database):
    """Name the database, reach it as the app's user, compare its schema with this release's; True if usable."""
    shared = postgres.is_url(database)
    title = (f"database reachable as {layout.WEB_USER} "
             f"({f'PostgreSQL {postgres.describe(database)}' if shared else f'SQLite {database}'})")
    if not shared and not os.path.lexists(database):
        return checks.item(f"{title}: not made yet; the app makes it at its first request", None)
    try:
        found = as_web_user(dbmove.status, database)
    except Refused as error:
        if not shared:
            return checks.item(title, str(error), f"the file must be {layout.WEB_USER}'s: "
                               f"chown {layout.WEB_USER} {database}; or restore it: subsite restore FILE")
        passfile = postgres.passfile(database)
        problem = as_web_user(passfile_problem, passfile) if passfile else None
        return checks.item(title, f"{error}{f'; {problem}' if problem else ''}",
                           f"start PostgreSQL, or correct the host, port or database name in "
                           f"{layout.SETTINGS_FILE}; a password goes in a passfile the URL names, "
                           f"{layout.WEB_USER}'s, mode 0600 (see subsite(8))")
    checks.item(title, None)
    return schema_check(checks, found, shared)


def schema_check(checks, found, shared):
    """Compare the schema version ``found`` (dbmove.status) with this release's; True if the app can use it."""
    version, latest = found["version"], found["latest"]
    title = f"database schema at version {version}"
    if found["problem"]:
        return checks.item(title, found["problem"], "apt install subsite")
    pending = ", ".join(f"{number} ({description})" for number, description in found["pending"])
    if pending and shared:
        return checks.item(title, f"this release needs version {latest}; pending: {pending}",
                           f"subsite migrate (once, on any one host with this release), then: {RESTART}")
    if pending:
        note = f"this release needs {latest}: the app applies {pending} when it next opens the file"
    elif found["newer"]:
        later = ", ".join(f"{number} ({description})" for number, description in found["newer"])
        note = f"newer than this release's {latest}; its later migrations are additive, so it is usable: {later}"
    else:
        note = "this release's"
    return checks.item(f"{title} ({note})", None)


def store_checks(checks, uploads, database, usable):
    """Check the uploads directory and, with PostgreSQL, the images kept in the database for every host."""
    checks.item(f"uploads directory {uploads} writable by {layout.WEB_USER}", as_web_user(folder_problem, uploads),
                f"dpkg-reconfigure subsite makes a missing one; one that exists must be {layout.WEB_USER}'s: "
                f"chown {layout.WEB_USER} {uploads}")
    if not postgres.is_url(database):
        checks.item("images kept on this host only (SQLite: no store shared with other hosts)", None)
        return
    title = f"images shared through {postgres.describe(database)}"
    if not usable:
        checks.skip(title, "the database check above failed")
        return
    try:
        count = as_web_user(dbmove.stored_images, database)
    except Refused as error:
        checks.item(title, str(error), "subsite migrate")
        return
    checks.item(f"{title}: its uploads table holds {count} images", None)


def folder_problem(folder):
    """As the app's user: why it could not store images in ``folder``, or None."""
    try:
        is_dir = stat.S_ISDIR(os.stat(folder).st_mode)
    except OSError as error:
        return f"{folder}: {error.strerror} (as {_user()})"
    if not is_dir:
        return f"{folder} is not a directory"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"{_user()} may not write to {folder}"
    return None


def passfile_problem(path):
    """As the app's user: why libpq would not read the passfile ``path``, or None."""
    try:
        mode = os.stat(path).st_mode
        with open(path, "rb"):
            pass
    except OSError as error:
        return f"the passfile {path} cannot be read by {_user()}: {error.strerror}"
    if mode & 0o077:
        return f"libpq ignores the passfile {path}: its group or others may read it (chmod 0600 {path})"
    return None


def _user():
    return pwd.getpwuid(os.geteuid()).pw_name
