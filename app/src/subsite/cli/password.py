"""`subsite password`: set the admin password (read from stdin when it is not a terminal)."""

import getpass
import grp
import os
import sys

from .. import layout
from .common import OK, Refused

MIN_LENGTH = 8


def add_parser(subs):
    parser = subs.add_parser("password", help="set the admin password")
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
    return OK
