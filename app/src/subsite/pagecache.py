"""The board's generation: a token every write replaces, which ends the key of nginx's page cache.

nginx keeps the public pages (the front page and its later pages, each post,
the directory and the JSON API) in its own cache, under a key that ends with
the generation. nginx reads it, on every request that uses the cache, as the
target of a link: ``/run/subsite/current`` (layout.GENERATION_DIR, each host
its own) names a directory called after the generation, and nginx resolves
the link ($realpath_root: a system call per part of the path, and no script;
hence a short path, in memory). A write replaces the generation in the
database in the same transaction as the change and, after the commit and
before the write is answered, swaps the link. The next request
therefore asks for a key no page was ever stored under, and reaches the app.
Pages stored under an older key are never asked for again (nginx drops them
when they expire or room is needed): nothing is purged, so nothing can be
purged too late. A request that read the old generation before the write may
still store a page, but only under the old key.

The name holds the database's token and this start's (START): a start of the
app may bring other settings or templates, so it starts the cache afresh too.
Publishing is done under a lock, in the order of the commits, and never puts
back a generation that is no longer the database's; `sync` publishes the
database's generation when the link lags behind it (a worker killed between
a commit and its publish, or a new start: the directory is in memory). Hosts
that share one PostgreSQL database each run `sync` in a small loop (poller.py),
which brings every host's cache up to date within its period.
"""

import fcntl
import os
import secrets
import time
from contextlib import contextmanager
from pathlib import Path

from . import generation, layout

# The board's generation table (see migrations.py; generation.py keeps its one row).
TABLE = "board_generation"

# This start of the app: the uWSGI master imports this module before it forks
# its workers, so they all publish the same value until the next start.
START = secrets.token_hex(8)


# The link nginx resolves (its root in the cached locations), in folder().
LINK = "current"
# Directories of replaced generations go, at a later publish, once they were made
# this long ago (seconds). A request that resolved the link just before the swap
# and finds its directory gone gets its own key (a miss), never another's page.
KEEP_REPLACED = 60


def folder():
    """Return the directory that holds the generation's link and directories (layout.GENERATION_DIR)."""
    return layout.GENERATION_DIR


def link():
    """Return the link nginx resolves to read the board's generation."""
    return folder() / LINK


def current(conn):
    """Return the database's generation, or None when no write has made one yet."""
    return generation.read(conn, TABLE)


def replace(conn):
    """Give the board a new generation, in the caller's transaction; return it."""
    return generation.renew(conn, TABLE)


def content(value):
    """Return the name the link points to for the database's generation ``value``."""
    return f"{value}-{START}"


def publish(path, value):
    """Point the link in the directory ``path`` at the generation ``value``, atomically (nginx reads it at any time).

    The generation's directory is made first, then a new link is renamed over
    the old one; directories of generations replaced long ago are removed.
    """
    here, name = Path(path), content(value)
    try:
        here.mkdir(mode=0o755, exist_ok=True)
        (here / name).mkdir(mode=0o755, exist_ok=True)
        fresh = here / f".{LINK}.{secrets.token_hex(8)}"
        os.symlink(name, fresh)
        os.replace(fresh, here / LINK)
    except OSError as error:
        raise PublishError(f"cannot publish the board's generation in {here} ({error.strerror or error}). "
                           f"The change is saved, but nginx may serve public pages from before it until the "
                           f"app's user (uid {os.geteuid()}) can write that directory, which each start of the "
                           f"app makes (service uwsgi restart); the next write then brings the pages up to "
                           f"date.") from None
    _remove_replaced(here, name)


def _remove_replaced(here, keep, now=None):
    """Remove the generation directories in ``here`` replaced more than KEEP_REPLACED seconds ago."""
    limit = (time.time() if now is None else now) - KEEP_REPLACED
    for entry in os.scandir(here):
        try:
            if entry.name in (keep, LINK) or entry.stat(follow_symlinks=False).st_mtime > limit:
                continue
            if entry.is_symlink():
                os.unlink(entry.path)       # a link a killed publisher left unrenamed
            elif entry.is_dir(follow_symlinks=False):
                os.rmdir(entry.path)        # empty by construction; anything else is left alone
        except OSError:
            continue


class PublishError(RuntimeError):
    """The change is committed but nginx could not be told; str() says what to fix."""


@contextmanager
def publishing(path):
    """Hold the lock under which generations are committed and published, in that order.

    Every write commits and publishes inside it, so the link never goes back
    to a generation an earlier commit replaced. The lock is on the directory
    ``path`` itself (flock), made here if it can be, so processes that share
    nothing else (the workers, `subsite restore`, the poller) take the same one.
    """
    try:
        Path(path).mkdir(mode=0o755, exist_ok=True)
        here = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as error:
        raise PublishError(f"cannot publish the board's generation in {path} ({error.strerror or error}): "
                           f"each start of the app makes that directory for its user; run: service uwsgi "
                           f"restart") from None
    try:
        fcntl.flock(here, fcntl.LOCK_EX)
        yield
    finally:
        os.close(here)


def published(path):
    """Return the name the link in the directory ``path`` points to, or None."""
    try:
        return os.readlink(Path(path) / LINK)
    except OSError:
        return None


def sync(conn, path):
    """Publish the database's generation unless the link already names it (making one if there is none).

    What a start of the app and each new worker run, and what a poller on
    each host sharing the database would repeat. Returns the generation.
    """
    with publishing(path):
        value = generation.ensure(conn, TABLE)
        if published(path) != content(value):
            publish(path, value)
    return value
