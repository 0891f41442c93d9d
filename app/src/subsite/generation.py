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

# The one row of session_generation (see db.SCHEMA).
ROW = 1


def current(conn):
    """Return the current generation, or None when no one has logged in since the table was made."""
    row = conn.execute("SELECT value FROM session_generation WHERE id = ?", (ROW,)).fetchone()
    return row[0] if row else None


def start(conn):
    """Return the generation a new login joins, making the first one if there is none."""
    with conn:
        # OR IGNORE: of two first logins at once, both join the one that was stored.
        conn.execute("INSERT OR IGNORE INTO session_generation (id, value) VALUES (?, ?)",
                     (ROW, secrets.token_hex(16)))
    return current(conn)


def end_all(conn):
    """Start a new generation: every session logged in before is logged out."""
    # Random, not a counter: a database reset or restored from a backup must not
    # bring an old value back, and with it the sessions that held it.
    with conn:
        conn.execute("INSERT OR REPLACE INTO session_generation (id, value) VALUES (?, ?)",
                     (ROW, secrets.token_hex(16)))
