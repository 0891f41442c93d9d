"""The object uWSGI loads: ``mount = <prefix>=subsite.wsgi:application``.

The settings file is /etc/subsite/subsite.ini, or the file named by the
SUBSITE_SETTINGS environment variable. The prefix in it is not read here:
uWSGI's mount passes it in SCRIPT_NAME with every request.
"""

import os
import signal
import sqlite3
import sys
from contextlib import closing

from . import db, layout, migrations, pagecache, postgres, settings
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


def settings_file(path=None):
    """Return the settings file to read: ``path``, $SUBSITE_SETTINGS or the installed one."""
    return path or os.environ.get("SUBSITE_SETTINGS") or layout.SETTINGS_FILE


def build(path=None):
    """Build the application from the settings file at ``path``."""
    return build_from(settings.load(settings_file(path)))


def build_from(values):
    """Build the application from a Settings."""
    config = app_config(values)
    return make_application(create_frontend(config), create_admin(config),
                            trusted_proxies=values.trusted_proxies, trusted_headers=values.trusted_headers)


def publish_generation(database):
    """Publish the board's generation for nginx's page cache (pagecache.sync); return True when done.

    Run at every start and by every new worker: this start's pages must not be
    taken for those of the one before (settings and templates may differ), and
    a worker killed between a write's commit and its publish left the link
    behind the database. When it fails the link is removed, so nginx passes
    every request to the app until a write or a new worker publishes again.
    A database this release cannot use (migrations.SchemaError) is not a
    failure to publish: it is raised, and the app does not start.
    """
    if os.geteuid() == 0:
        # A uWSGI master that has not dropped its privileges yet: root never
        # writes in the app's data directory (README); the workers publish.
        return False
    path = pagecache.folder()
    try:
        with closing(db.connect(database)) as conn:
            pagecache.sync(conn, path)
        return True
    except (sqlite3.Error, postgres.PostgresError, OSError, pagecache.PublishError) as error:
        print(f"subsite: cannot publish the board's generation for nginx's page cache: {error}; "
              "nginx passes the public pages to the app meanwhile", file=sys.stderr, flush=True)
        try:
            pagecache.link().unlink(missing_ok=True)
        except OSError:
            pass
        return False


def publish_generation_in_workers(database):
    """Have each new uWSGI worker publish the generation (uWSGI's post-fork hook); return True under uWSGI."""
    try:
        import uwsgi
    except ImportError:
        return False
    if getattr(uwsgi, "masterpid", None) is None:     # some other "uwsgi" on the path
        return False
    uwsgi.post_fork_hook = lambda: publish_generation(database)
    return True


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


def start(path=None):
    """Build the application, publish this start's generation (and have each worker do so); return it.

    Refuses (raises migrations.SchemaError, so uWSGI's need-app ends the
    start) a database this release cannot use: a PostgreSQL database not yet
    migrated for it, or one a newer release changed beyond what it can read.
    """
    values = settings.load(settings_file(path))
    application = build_from(values)
    try:
        publish_generation(values.database)
    except migrations.SchemaError as error:
        print(f"subsite: the app cannot start: {error}", file=sys.stderr, flush=True)
        raise
    publish_generation_in_workers(values.database)
    return application


application = start()
wake_master_on_worker_exit()
