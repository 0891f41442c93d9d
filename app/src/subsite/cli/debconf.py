"""`subsite debconf-value`: the prefix the debconf question should hold.

The settings file is authoritative: a hand edit (or `subsite prefix`) since
the last configure is read back into debconf. A debconf answer changed since
then (a preseed for dpkg-reconfigure) is kept, and the postinst writes it.
"""

import os
import sys

from .. import layout, prefix, settings


def add_parser(subs):
    parser = subs.add_parser("debconf-value", help="print the prefix debconf should hold (run by the config script)")
    parser.add_argument("current", help="the value debconf holds now")
    parser.set_defaults(run=run)


def choose(current, synced, in_file):
    """Return the value debconf should hold, given the three places it could come from."""
    if synced is None or in_file is None or current != synced:
        return current
    return in_file


def read_synced():
    """The prefix debconf and the settings last agreed on (release 1.0.0 kept it in the data directory)."""
    for path in (layout.DEBCONF_SYNCED_FILE, layout.OLD_DEBCONF_SYNCED_FILE):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            with os.fdopen(fd, encoding="utf-8") as handle:
                return handle.read(1024).strip()
        except (OSError, UnicodeDecodeError):
            continue
    return None


def run(args):
    try:
        in_file = settings.load().prefix
    except settings.SettingsError:
        in_file = None
    synced = read_synced()
    value = choose(args.current, synced, in_file)
    try:
        value = prefix.normalize(value)
    except prefix.PrefixError as error:
        print(f"subsite: the prefix {value!r} is refused: {error}", file=sys.stderr)
    print(value)
    return 0
