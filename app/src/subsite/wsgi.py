"""The object uWSGI loads: ``mount = <prefix>=subsite.wsgi:application``.

The settings file is /etc/subsite/subsite.ini, or the file named by the
SUBSITE_SETTINGS environment variable. The prefix in it is not read here:
uWSGI's mount passes it in SCRIPT_NAME with every request.
"""

import os
import signal

from . import layout, settings
from .admin import create_admin
from .application import make_application
from .frontend import create_frontend


def app_config(values):
    """Return the Flask config that follows from a Settings."""
    return {
        "DATABASE": str(values.database),
        "UPLOADS_DIR": str(values.uploads),
        "TRUSTED_PROXIES": values.trusted_proxies,
        "TRUSTED_HEADERS": values.trusted_headers,
        "LOGIN_ATTEMPTS": values.login_attempts,
        "LOGIN_ATTEMPTS_TOTAL": values.login_attempts_total,
        "TEST_ENDPOINTS": values.test_endpoints,
    }


def build(path=None):
    """Build the application from the settings file at ``path``."""
    if path is None:
        path = os.environ.get("SUBSITE_SETTINGS") or layout.SETTINGS_FILE
    values = settings.load(path)
    config = app_config(values)
    return make_application(create_frontend(config), create_admin(config),
                            trusted_proxies=values.trusted_proxies, trusted_headers=values.trusted_headers)


def wake_master_on_worker_exit():
    """Let uWSGI's master see a worker exit at once, not at its next check.

    uWSGI 2.0's master waits for events with a 1 s timeout and leaves SIGCHLD
    at its default, which does not end that wait; so every stop, restart and
    reload (each waits for the workers to exit) took a second longer than the
    workers did. Any handler ends the wait. This one does nothing else, and
    SA_RESTART (siginterrupt False) lets other system calls carry on.
    Only in uWSGI's master (returns True then): tests and other servers
    are left alone.
    """
    try:
        import uwsgi
    except ImportError:
        return False
    masterpid = getattr(uwsgi, "masterpid", None)   # None: some other "uwsgi" on the path
    if masterpid is None or masterpid() != os.getpid():
        return False
    signal.signal(signal.SIGCHLD, _worker_exited)
    signal.siginterrupt(signal.SIGCHLD, False)
    return True


def _worker_exited(signum, frame):
    """Nothing to do: the master reaps its workers itself once awake."""


application = build()
wake_master_on_worker_exit()
