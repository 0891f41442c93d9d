"""Failed admin logins, counted per client address in the app's SQLite database.

uWSGI runs several worker processes, so the count lives in the database they
share, not in memory. Each login attempt is recorded before the password is
checked, inside one write transaction, so concurrent attempts cannot slip past
the limit; a successful login forgets the address's attempts.
"""

import math
import time

from flask import current_app

from . import db


def _limit():
    rate = current_app.config["LOGIN_ATTEMPTS"]
    return rate.count, rate.seconds


def attempt(address, now=None):
    """Record a login attempt from ``address``; return 0 if allowed, else seconds to wait.

    A refused attempt is not recorded, so waiting out the window always works.
    """
    count, seconds = _limit()
    if not count:
        return 0
    now = time.time() if now is None else now
    conn = db.get_db()
    # BEGIN IMMEDIATE takes the write lock first: count and insert are one step.
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("DELETE FROM login_attempts WHERE at <= ?", (now - seconds,))
        rows = conn.execute(
            "SELECT at FROM login_attempts WHERE address = ? ORDER BY at", (address,)
        ).fetchall()
        if len(rows) >= count:
            conn.execute("COMMIT")
            oldest = rows[len(rows) - count]["at"]
            return max(1, math.ceil(oldest + seconds - now))
        conn.execute("INSERT INTO login_attempts (address, at) VALUES (?, ?)", (address, now))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return 0


def succeeded(address):
    """Forget the attempts of ``address`` after a successful login."""
    if not _limit()[0]:
        return
    conn = db.get_db()
    with conn:
        conn.execute("DELETE FROM login_attempts WHERE address = ?", (address,))
