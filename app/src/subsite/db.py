"""The posts table in SQLite: one connection per worker thread, reused by its requests."""

import os
import sqlite3
import threading
from datetime import UTC, datetime

from flask import abort, current_app, g

from . import pagecache

SCHEMA = """
CREATE TABLE IF NOT EXISTS posts (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    image TEXT NULL,
    created TEXT
);
-- Login attempts, by client: an IPv4 address or an IPv6 /64 (see ratelimit.py).
CREATE TABLE IF NOT EXISTS login_attempts (
    address TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS login_attempts_address ON login_attempts (address, at);
-- For the total over all clients.
CREATE INDEX IF NOT EXISTS login_attempts_at ON login_attempts (at);
-- The admin sessions' generation, one row (see generation.py).
CREATE TABLE IF NOT EXISTS session_generation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    value TEXT NOT NULL
);
-- The board's generation, replaced by every write to the posts, one row (see pagecache.py).
CREATE TABLE IF NOT EXISTS board_generation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    value TEXT NOT NULL
);
"""


def connect(path):
    """Open the database at ``path`` and set it up: WAL mode and the schema."""
    # Several uWSGI workers share the file: wait up to 5 s for a lock (SQLite's
    # busy timeout) instead of failing at once with "database is locked".
    db = sqlite3.connect(path, timeout=5.0)
    db.row_factory = sqlite3.Row
    # WAL (kept in the file) lets the frontend read while the admin writes.
    # The schema is created here, so a fresh install needs no "init-db" step.
    # Both run on every new connection (rare: connection() keeps one per worker
    # thread), so a database removed or replaced meanwhile is set up again.
    db.execute("PRAGMA journal_mode = WAL")
    db.executescript(SCHEMA)
    return db


# (pid, thread, path) -> (connection, inode of the file it opened).
_connections = {}


def connection(path):
    """Return this worker thread's connection to the database at ``path``.

    Opening a connection and reading the schema cost more than a small request
    itself, so each uWSGI worker keeps its connection. It is opened (and set
    up) again when the file was replaced or removed. (A backup copied over the
    file would be read through the old -wal beside it; `subsite restore` goes
    through SQLite's backup instead.)
    """
    path = str(path)
    key = (os.getpid(), threading.get_ident(), path)
    kept = _connections.get(key)
    if kept is not None and _inode(path) != kept[1]:
        kept[0].close()
        kept = None
    if kept is None:
        kept = _connections[key] = (connect(path), _inode(path))
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


def check(path):
    """Run a trivial query on the database at ``path``; raise sqlite3.Error if it is unusable."""
    connection(path).execute("SELECT 1 FROM posts LIMIT 1").fetchone()


def list_posts(limit=-1, before=None):
    """Return posts newest first: at most ``limit`` (-1: all), older than id ``before``."""
    if before is None:
        return get_db().execute("SELECT * FROM posts ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
    return get_db().execute("SELECT * FROM posts WHERE id < ? ORDER BY id DESC LIMIT ?",
                            (before, limit)).fetchall()


def get_post(post_id):
    """Return one post or None."""
    return get_db().execute("SELECT * FROM posts WHERE id = ?", (post_id,)).fetchone()


def get_post_or_404(post_id):
    """Return one post or stop the request with 404."""
    row = get_post(post_id)
    if row is None:
        abort(404, description=f"There is no post {post_id}.")
    return row


def generation_file():
    """Return the file nginx reads the board's generation from (beside the database)."""
    return pagecache.file_of(current_app.config["DATABASE"])


def _change(statement, params):
    """Run ``statement``, which changes what the public pages show; return its cursor.

    The board's generation is replaced in the same transaction and published
    for nginx after the commit, before the caller answers: the next request
    for any public page misses nginx's cache.
    """
    db = get_db()
    path = generation_file()
    with pagecache.publishing(path):
        with db:
            cursor = db.execute(statement, params)
            value = pagecache.replace(db)
        pagecache.publish(path, value)
    return cursor


def create_post(title, body, image=None):
    """Insert a post and return its id."""
    created = datetime.now(UTC).isoformat(timespec="seconds")
    cursor = _change("INSERT INTO posts (title, body, image, created) VALUES (?, ?, ?, ?)",
                     (title, body, image, created))
    return cursor.lastrowid


def update_post(post_id, title, body, image):
    """Replace a post's title, body and image name."""
    _change("UPDATE posts SET title = ?, body = ?, image = ? WHERE id = ?", (title, body, image, post_id))


def delete_post(post_id):
    """Delete a post."""
    _change("DELETE FROM posts WHERE id = ?", (post_id,))
