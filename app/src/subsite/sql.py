"""What the SQL of both backends needs besides the statements: which backend a connection is, and a locked transaction.

Both backends take the same statements (``?`` placeholders, ``ON CONFLICT``,
``RETURNING``; postgres.Connection translates the placeholders). What differs
is how a transaction keeps other writers out from its start.
"""

import sqlite3
from contextlib import contextmanager


def is_sqlite(conn):
    """Tell whether ``conn`` is an SQLite connection (else a postgres.Connection)."""
    return isinstance(conn, sqlite3.Connection)


@contextmanager
def locked(conn, postgres_lock):
    """A transaction that holds off every other writer from its start; committed at the end, rolled back on an exception.

    SQLite: BEGIN IMMEDIATE, the database's write lock (waiting up to the
    connection's busy timeout). PostgreSQL: BEGIN, then ``postgres_lock`` (a
    LOCK TABLE or pg_advisory_xact_lock statement), held until the end.
    """
    if is_sqlite(conn):
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise
        conn.commit()
    else:
        with conn:
            conn.execute(postgres_lock)
            yield conn
