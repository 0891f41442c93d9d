"""The `subsite` admin command: one subcommand per module, dispatched here.

Exit codes: 0 all is well, 1 the admin must fix something (the message says
what and how), 3 an unexpected failure, 4 the database could not be reached
or read (`subsite migrate`, `migrate-to`), 130 interrupted.
"""

import argparse
import sys
import traceback

from .. import layout
from . import backup, check, debconf, disable, migrate, password, prefix, reload, setup, uwsgi_config
from .common import FAILED, INTERRUPTED, Refused

COMMANDS = (prefix, check, password, backup, migrate, setup, reload, disable, debconf, uwsgi_config)


def parser():
    """Build the argument parser for every subcommand."""
    top = argparse.ArgumentParser(
        prog="subsite",
        description="Administer the subsite app: its URL prefix, its health, its admin password and its data.",
        epilog=f"See subsite(8). The prefix lives in {layout.SETTINGS_FILE}.",
    )
    subs = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.add_parser(subs)
    return top


def main(argv=None):
    """Run the command line ``argv``; return the exit code."""
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except Refused as error:
        print(f"subsite: {error}", file=sys.stderr)
        return error.code
    except KeyboardInterrupt:
        return INTERRUPTED
    except Exception as error:
        traceback.print_exc()
        print(f"subsite: unexpected failure: {error}; please report it with the traceback above", file=sys.stderr)
        return FAILED
