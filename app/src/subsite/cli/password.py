"""`subsite password`: set the admin password (read from stdin when it is not a terminal).

Setting it also ends every admin session, as logging out does, and forgets
the failed logins, so an admin locked out by the login limits gets in again:
both are in the app's database. That database belongs to the web user, in a directory where root
must not create files, so that step runs as the web user (privileges.run_as);
if it cannot be done the password is set all the same and a warning says why.
"""

import getpass
import grp
import os
import sys
from contextlib import closing
from pathlib import Path

from .. import layout, privileges, settings
from .common import OK, Refused, warn

MIN_LENGTH = 8


def add_parser(subs):
    parser = subs.add_parser("password", help="set the admin password, ending every admin session")
    parser.set_defaults(run=run)


def read_password():
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("New admin password: ")
    if getpass.getpass("Again: ") != first:
        raise Refused("the two passwords differ; nothing was changed.")
    return first


def run(args):
    password = read_password()
    if len(password) < MIN_LENGTH:
        raise Refused(f"the password must have at least {MIN_LENGTH} characters; nothing was changed.")
    # Imported here: auth needs Flask, and the other commands (uwsgi-config runs
    # at every uWSGI start) should not wait for it to load.
    from .. import auth

    auth.set_password(layout.PASSWORD_FILE, password)
    os.chown(layout.PASSWORD_FILE, 0, grp.getgrnam(layout.WEB_USER).gr_gid)
    os.chmod(layout.PASSWORD_FILE, 0o640)
    print("The admin password is set. Log in at <prefix>/admin/.")
    end_sessions()
    return OK


def end_sessions():
    """End every admin session and forget the failed logins, as the web user; warn if that cannot be done."""
    try:
        database = settings.load().database
        cleared = privileges.run_as(layout.WEB_USER, clear_logins, str(database))
    except (settings.SettingsError, privileges.ChildFailed, OSError) as error:
        warn(f"the password is set, but the admin sessions and failed logins in the app's database could not be "
             f"cleared: {error}. The new password logs every session out anyway; if logins are refused (429), "
             "run 'subsite password' again once that is fixed.")
        return
    if cleared:
        print("Every admin session is logged out and the failed logins are forgotten.")


def clear_logins(database):
    """End every admin session and forget the failed logins in ``database``; return False when there is no database yet.

    Runs as the web user (on PostgreSQL too: the passfile is that user's). A
    missing SQLite file (the app has not started yet) holds no session, so it
    is not created here.
    """
    from .. import db, generation, postgres, ratelimit

    if not postgres.is_url(database) and not Path(database).is_file():
        return False
    with closing(db.connect_existing(database)) as conn:
        generation.end_all(conn)
        ratelimit.forget_all(conn)
    return True
