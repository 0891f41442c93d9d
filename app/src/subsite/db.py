"""The posts, in SQLite or PostgreSQL: one connection per worker thread, reused by its requests.

The ``database`` setting is an SQLite file's path (one host) or a
postgresql:// URL (several hosts sharing one database; postgres.py). The
statements are the same for both; the schema is in migrations.py.
"""

import os
import sqlite3
import threading
from datetime import UTC, datetime

from pathlib import Path

from flask import abort, current_app, g

from . import migrations, pagecache, postgres

# What a failing database raises: SQLite's errors, PostgreSQL's, and a schema this release cannot use.
ERRORS = (sqlite3.Error, postgres.PostgresError, migrations.SchemaError)
# What a database that cannot serve for now may raise; unreachable() tells which of these it is.
UNREACHABLE = (postgres.Unavailable, sqlite3.OperationalError)
# SQLite's codes (and their extended codes) for a lock held past the busy timeout.
SQLITE_LOCKED = ("SQLITE_BUSY", "SQLITE_LOCKED")


def unreachable(error):
    """Tell whether ``error`` means the database cannot serve for now, rather than that a statement is wrong."""
    if isinstance(error, postgres.Unavailable):
        return True
    return isinstance(error, sqlite3.OperationalError) and \
        getattr(error, "sqlite_errorname", "").startswith(SQLITE_LOCKED)


def connect(database):
    """Open ``database`` (a file: SQLite; a postgresql:// URL) for the app, at this release's schema.

    SQLite is migrated here, so a fresh install or an upgrade needs no
    step; PostgreSQL is only checked (the admin migrates it: migrations.py).
    """
    if postgres.is_url(database):
        return _prepared(postgres.connect(str(database)),
                         lambda conn: migrations.require(conn, postgres.where(database)))
    # Several uWSGI workers share the file: wait up to 5 s for a lock (SQLite's
    # busy timeout) instead of failing at once with "database is locked".
    db = sqlite3.connect(database, timeout=5.0)
    db.row_factory = sqlite3.Row
    # WAL (kept in the file) lets the frontend read while the admin writes.
    # Both run on every new connection (rare: connection() keeps one per worker
    # thread), so a database removed or replaced meanwhile is set up again.
    db.execute("PRAGMA journal_mode = WAL")
    migrations.migrate(db, postgres.where(database))
    return db


def connect_existing(database):
    """Open ``database`` for an admin's command: as ``connect``, but never create an SQLite file."""
    if postgres.is_url(database):
        return connect(database)
    # By URI, so that "?", "#" or "%" in the name are taken as they are.
    db = sqlite3.connect(f"{Path(database).absolute().as_uri()}?mode=rw", uri=True, timeout=5.0)
    return _prepared(db, lambda conn: migrations.migrate(conn, postgres.where(database)))


def _prepared(conn, prepare):
    """Return ``conn`` once ``prepare(conn)`` ran; close it if that failed."""
    try:
        prepare(conn)
    except BaseException:
        conn.close()
        raise
    return conn


# (pid, thread, database) -> (connection, inode of the SQLite file it opened; None for PostgreSQL).
_connections = {}


def connection(database):
    """Return this worker thread's connection to ``database``.

    Opening a connection and reading the schema cost more than a small request
    itself, so each uWSGI worker keeps its connection. An SQLite file is
    opened (and set up) again when the file was replaced or removed. (A backup
    copied over the file would be read through the old -wal beside it;
    `subsite restore` goes through SQLite's backup instead.) A PostgreSQL
    connection opens itself again when it was lost (postgres.Connection).
    """
    database = str(database)
    key = (os.getpid(), threading.get_ident(), database)
    kept = _connections.get(key)
    if postgres.is_url(database):
        if kept is None:
            kept = _connections[key] = (connect(database), None)
        return kept[0]
    if kept is not None and _inode(database) != kept[1]:
        kept[0].close()
        kept = None
    if kept is None:
        kept = _connections[key] = (connect(database), _inode(database))
    return kept[0]


def get_db():
    """Return the app's database connection for this request."""
    g.db = connection(current_app.config["DATABASE"])
    return g.db


def _inode(path):
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def close_db(exception=None):
    """End a transaction the request left open; the connection stays for the next one."""
    db = g.pop("db", None)
    if db is not None and db.in_transaction:
        db.rollback()


def init_app(app):
    """Register the teardown that ends the request's transaction."""
    app.teardown_appcontext(close_db)


def check(database):
    """Run a trivial query on ``database``; raise one of ERRORS if it is unusable."""
    connection(database).execute("SELECT 1 FROM posts LIMIT 1").fetchone()


# list_posts' statements, by (newer than an id, at most a number).
_LIST_POSTS = {
    (False, False): "SELECT * FROM posts ORDER BY id DESC",
    (False, True): "SELECT * FROM posts ORDER BY id DESC LIMIT ?",
    (True, False): "SELECT * FROM posts WHERE id < ? ORDER BY id DESC",
    (True, True): "SELECT * FROM posts WHERE id < ? ORDER BY id DESC LIMIT ?",
}


def list_posts(limit=None, before=None):
    """Return posts newest first: at most ``limit`` (None: all), older than id ``before``."""
    params = tuple(value for value in (before, limit) if value is not None)
    return get_db().execute(_LIST_POSTS[before is not None, limit is not None], params).fetchall()


def get_post(post_id):
    """Return one post or None."""
    return get_db().execute("SELECT * FROM posts WHERE id = ?", (post_id,)).fetchone()


def get_post_or_404(post_id):
    """Return one post or stop the request with 404."""
    row = get_post(post_id)
    if row is None:
        abort(404, description=f"There is no post {post_id}.")
    return row


def _change(statement, params):
    """Run ``statement``, which changes what the public pages show; return the rows it returns.

    The board's generation is replaced in the same transaction and published
    for nginx after the commit, before the caller answers: the next request
    for any public page misses nginx's cache.
    """
    db = get_db()
    path = pagecache.folder()
    with pagecache.publishing(path):
        with db:
            cursor = db.execute(statement, params)
            rows = cursor.fetchall() if cursor.description else []
            value = pagecache.replace(db)
        pagecache.publish(path, value)
    return rows


def create_post(title, body, image=None):
    """Insert a post and return its id."""
    created = datetime.now(UTC).isoformat(timespec="seconds")
    rows = _change("INSERT INTO posts (title, body, image, created) VALUES (?, ?, ?, ?) RETURNING id",
                   (title, body, image, created))
    return rows[0][0]


def update_post(post_id, title, body, image):
    """Replace a post's title, body and image name."""
    _change("UPDATE posts SET title = ?, body = ?, image = ? WHERE id = ?", (title, body, image, post_id))


def delete_post(post_id):
    """Delete a post."""
    _change("DELETE FROM posts WHERE id = ?", (post_id,))


def shares_uploads():
    """Tell whether images are kept in the database too: with PostgreSQL, for the other hosts."""
    return postgres.is_url(current_app.config["DATABASE"])


def store_upload(name, data):
    """Keep the image ``name`` (its bytes ``data``) in the database, for the other hosts."""
    created = datetime.now(UTC).isoformat(timespec="seconds")
    db = get_db()
    with db:
        db.execute("INSERT INTO uploads (name, data, created) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING",
                   (name, data, created))


def get_upload(name):
    """Return the bytes of the image ``name`` kept in the database, or None."""
    row = get_db().execute("SELECT data FROM uploads WHERE name = ?", (name,)).fetchone()
    return None if row is None else bytes(row[0])


def delete_upload(name):
    """Forget the image ``name`` in the database."""
    db = get_db()
    with db:
        db.execute("DELETE FROM uploads WHERE name = ?", (name,))
