"""Keeps this host's page cache in step with writes made on other hosts (PostgreSQL only).

A write publishes the board's new generation on the host that made it
(pagecache.py). The other hosts sharing the database learn of it here: a
uWSGI mule (`mule =`, which `subsite uwsgi-config` adds when the database is
PostgreSQL) runs this file, which publishes the database's generation every
PERIOD seconds when it changed, so a write is seen through every host within
a second. It reconnects by itself after the database went away.
"""

import sys
import time

# Absolute: uWSGI runs this file as __main__, in a mule forked from the master that imported the app.
from subsite import db, pagecache, postgres

# Seconds between two looks at the database's generation.
PERIOD = 0.5


def poll_once(database, conn):
    """Publish the database's generation if this host's lags behind; return the connection to keep."""
    conn = conn or db.connect(database)
    pagecache.sync(conn, pagecache.folder())
    return conn


def run(database, period=PERIOD, sleep=time.sleep, rounds=None):
    """Poll until stopped (or ROUNDS times); a failure is logged once until it changes, then retried."""
    conn, last_error = None, None
    try:
        while rounds is None or rounds > 0:
            try:
                conn = poll_once(database, conn)
                if last_error is not None:
                    print("subsite: the page cache follows the database again", file=sys.stderr, flush=True)
                last_error = None
            except (*db.ERRORS, OSError, pagecache.PublishError) as error:
                if str(error) != last_error:
                    print(f"subsite: cannot follow the board's generation in {postgres.where(database)}: {error}; "
                          f"retrying every {period} s", file=sys.stderr, flush=True)
                last_error = str(error)
                if conn is not None:
                    conn.close()
                conn = None
            sleep(period)
            if rounds is not None:
                rounds -= 1
    finally:
        if conn is not None:
            conn.close()

def main():
    """The mule's program: the settings' database, polled for ever."""
    from subsite import settings, wsgi      # the master imported wsgi (the app) already

    run(settings.load(wsgi.settings_file()).database)


if __name__ == "__main__":
    main()
