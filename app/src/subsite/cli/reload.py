"""`subsite reload`: reload the app gracefully; what the package's trigger runs.

The python3.X the venv runs on, or uWSGI's python3 plugin, was upgraded: a
graceful reload re-executes uWSGI, so the app runs the new one without
dropping a request. Only this app is reloaded, under either init system.
"""

from .. import services
from .common import OK, Refused


def add_parser(subs):
    parser = subs.add_parser("reload", help="reload the app gracefully (run when its Python is upgraded)")
    parser.set_defaults(run=run)


def run(args):
    if not services.uwsgi_master_pid():
        print("The app is not running; nothing to reload.")
        return OK
    ok, output = services.reload_app()
    if not ok:
        raise Refused(f"the reload failed: {output}")
    return OK
