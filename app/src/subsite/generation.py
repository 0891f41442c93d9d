"""The admin sessions' generation, kept in the database: logging out ends every earlier session.

A session cookie is signed, not stored, so the server cannot forget one: a
stolen cookie stays good until it expires. So a login writes the current
generation (a random value, one row in the database) into its session, and
a session counts only while that value is still current. Logging out, a new
password (`subsite password`) and a restore replace the value, which ends
every session started before, in every worker and on every host that shares
the database. Checking costs one primary-key lookup per admin request.
"""

import secrets

# The one row of each generation table (session_generation, board_generation: see migrations.py).
ROW = 1
TABLE = "session_generation"


def read(conn, table):
    """Return the generation kept in ``table``, or None when none was made yet."""
    row = conn.execute(f"SELECT value FROM {table} WHERE id = ?", (ROW,)).fetchone()
    return row[0] if row else None


def ensure(conn, table):
    """Return the generation in ``table``, making the first one (in its own transaction) if there is none."""
    with conn:
        # DO NOTHING: of two first callers at once, both get the one that was stored.
        conn.execute(f"INSERT INTO {table} (id, value) VALUES (?, ?) ON CONFLICT (id) DO NOTHING",
                     (ROW, secrets.token_hex(16)))
    return read(conn, table)


def renew(conn, table):
    """Put a new generation in ``table``, in the caller's transaction; return it.

    Random, not a counter: a database reset or restored from a backup must not
    bring an old value back (with it, the sessions or cached pages that held it).
    """
    value = secrets.token_hex(16)
    conn.execute(f"INSERT INTO {table} (id, value) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET value = excluded.value",
                 (ROW, value))
    return value


def current(conn):
    """Return the current session generation, or None when no one has logged in since the table was made."""
    return read(conn, TABLE)


def start(conn):
    """Return the generation a new login joins, making the first one if there is none."""
    return ensure(conn, TABLE)


def end_all(conn):
    """Start a new generation: every session logged in before is logged out."""
    with conn:
        renew(conn, TABLE)
