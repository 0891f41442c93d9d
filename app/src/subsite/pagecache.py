"""The board's generation: a token every write replaces, which ends the key of nginx's page cache.

nginx keeps the public pages (the front page and its later pages, each post,
the directory and the JSON API) in its own cache, under a key that ends with
the generation it reads, on every request, from a small file beside the
database (generation.js; with PostgreSQL, a file of each host's own). A write replaces the generation in the database in
the same transaction as the change and, after the commit and before the
write is answered, publishes it to that file. The next request therefore
asks for a key no page was ever stored under, and reaches the app. Pages
stored under an older key are never asked for again (nginx drops them when
they expire or room is needed): nothing is purged, so nothing can be purged
too late. A request that read the old generation before the write may still
store a page, but only under the old key.

The file holds the database's token and this start's (START): a start of the
app may bring other settings or templates, so it starts the cache afresh too.
Publishing is done under a lock, in the order of the commits, and never puts
back a generation that is no longer the database's; `sync` publishes the
database's generation when the file lags behind it (a worker killed between
a commit and its publish). Hosts that share one database will each run `sync`
in a small loop, which brings every host's cache up to date within its period.
"""

import fcntl
import os
import secrets
from contextlib import contextmanager
from pathlib import Path

from . import files, generation, layout, postgres

# The board's generation table (see migrations.py; generation.py keeps its one row).
TABLE = "board_generation"

# This start of the app: the uWSGI master imports this module before it forks
# its workers, so they all publish the same value until the next start.
START = secrets.token_hex(8)


def file_of(database):
    """Return the file nginx reads the generation of ``database`` from: beside an SQLite file; for PostgreSQL, layout's."""
    if postgres.is_url(database):
        return layout.GENERATION_FILE
    return Path(f"{database}.generation")


def current(conn):
    """Return the database's generation, or None when no write has made one yet."""
    return generation.read(conn, TABLE)


def replace(conn):
    """Give the board a new generation, in the caller's transaction; return it."""
    return generation.renew(conn, TABLE)


def content(value):
    """Return what the file holds for the database's generation ``value``."""
    return f"{value}-{START}\n"


def publish(path, value):
    """Write the generation ``value`` to the file at ``path``, atomically (nginx reads it at any time)."""
    try:
        files.write_atomically(path, content(value))
    except OSError as error:
        raise PublishError(f"cannot write {path} ({error.strerror or error}). The change is saved, but nginx may "
                           f"serve public pages from before it until the app's user (uid {os.geteuid()}) can "
                           f"write that file, beside the database; the next write or start of the app then "
                           f"brings the pages up to date.") from None


class PublishError(RuntimeError):
    """The change is committed but nginx could not be told; str() says what to fix."""


@contextmanager
def publishing(path):
    """Hold the lock under which generations are committed and published, in that order.

    Every write commits and publishes inside it, so the file never goes back
    to a generation an earlier commit replaced. The lock is on the directory
    holding ``path`` (flock), so processes that share nothing else (the
    workers, `subsite restore`, a poller) take the same one.
    """
    folder = os.open(Path(path).parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        yield
    finally:
        os.close(folder)


def published(path):
    """Return what the file at ``path`` holds, or None."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def sync(conn, path):
    """Publish the database's generation unless the file already holds it (making one if there is none).

    What a start of the app and each new worker run, and what a poller on
    each host sharing the database would repeat. Returns the generation.
    """
    with publishing(path):
        value = generation.ensure(conn, TABLE)
        if published(path) != content(value):
            publish(path, value)
    return value
