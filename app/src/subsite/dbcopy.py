"""The posts database copied out and back in: the steps of `subsite backup` and `subsite restore` run as the web user.

Root's commands run these in a child process as www-data (privileges.run_as):
the database, its -wal and -shm files and the directory they are in belong to
the app, so root neither follows a link found there nor lets SQLite read a
schema it did not write. The file the admin named is root's: root opens it and
the child gets only its descriptor. SQLite opens files by name, so it never
sees that file: the child goes through a copy in a private temporary
directory and moves the bytes between that copy and the descriptor.
"""

import itertools
import os
import shutil
import sqlite3
import stat
import tempfile
from contextlib import closing
from pathlib import Path

from . import generation, migrations, pagecache


class CopyRefused(Exception):
    """Something the admin must fix; the message says what, where and what to do."""


def back_up(database, output, target):
    """Copy ``database`` into the open descriptor ``output``; return how many posts the copy holds.

    ``target`` is the name the admin gave ``output``, for messages.
    """
    check_database(database)
    with _private_directory() as private:
        copy = Path(private) / "copy.db"
        try:
            _copy(connect(database, "ro"), sqlite3.connect(copy))
            posts = _count_posts(copy)
            with open(copy, "rb") as source, open(output, "wb", closefd=False) as destination:
                shutil.copyfileobj(source, destination)
        except (sqlite3.Error, OSError) as error:
            raise CopyRefused(f"cannot back up {database} to {target}: {error}. Nothing was written.") from None
    return posts


def restore(backup, source, database, kept):
    """Put the posts in the open descriptor ``backup`` in place of those in ``database``.

    ``source`` is the name the admin gave ``backup``, for messages. The current
    posts are kept first in the new file ``kept`` (or kept-2, kept-3, ...).
    The restored database is then migrated (a backup from an older release
    lacks what later releases added); every admin session ends;
    and the board gets a new generation, published for nginx, so the public
    pages show the restored posts at once. Return the number of posts
    restored and the name of the kept copy.
    """
    with _private_directory() as private:
        copy = Path(private) / "backup.db"
        posts = _checked_copy(backup, source, copy)
        check_database(database)
        kept = _keep(database, Path(kept))
        published = pagecache.folder()
        copied = False
        try:
            # Under the lock the app's writes publish under: none of them can
            # publish between the copy and the restored posts' generation.
            with pagecache.publishing(published):
                _copy(sqlite3.connect(copy), connect(database, "rw"))
                copied = True
                with closing(connect(database, "rw")) as restored:
                    migrations.migrate(restored, database)
                    # The backup holds the session generation of its day: admin
                    # sessions logged out since then must not count again.
                    generation.end_all(restored)
                    with restored:
                        value = pagecache.replace(restored)
                pagecache.publish(published, value)
        except (sqlite3.Error, OSError, migrations.SchemaError) as error:
            raise CopyRefused(f"cannot restore {source} into {database}: {error}. "
                              f"The posts from before are kept in {kept}.") from None
        except pagecache.PublishError as error:
            if not copied:
                raise CopyRefused(f"cannot restore {source} into {database}: {error}. Nothing was "
                                  f"changed.") from None
            raise CopyRefused(f"restored {source} into {database}, but {error}") from None
    return {"posts": posts, "kept": str(kept)}


def check_database(path):
    """Refuse anything but a file at ``path``, the database the app made."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise CopyRefused(f"there is no database at {path}; is subsite installed and its app started? "
                          "Nothing was done.") from None
    except OSError as error:
        raise CopyRefused(f"cannot reach {path} as the app's user: {error.strerror}; the directories above it "
                          "must let that user in. Nothing was done.") from None
    # Run as the app's user a link gains nothing, but the app never makes one: the admin should know.
    if stat.S_ISLNK(info.st_mode):
        raise CopyRefused(f"{path} is a symbolic link, not the app's database; move it away. Nothing was done.")
    if not stat.S_ISREG(info.st_mode):
        raise CopyRefused(f"{path} is not a file, so not the app's database; move it away. Nothing was done.")


def _private_directory():
    """Return a new temporary directory (mode 0700) of the app's user, removed with what it holds when left."""
    try:
        return tempfile.TemporaryDirectory(prefix="subsite-")
    except OSError as error:
        raise CopyRefused(f"cannot make a temporary directory as the app's user: {error}; "
                          "TMPDIR, if set, must name a directory that user may write. Nothing was done.") from None


def _checked_copy(backup, source, copy):
    """Copy the descriptor ``backup`` to the file ``copy``; return its posts; refuse what is not a sound backup."""
    try:
        with open(backup, "rb", closefd=False) as origin, open(copy, "xb") as destination:
            shutil.copyfileobj(origin, destination)
    except OSError as error:
        raise CopyRefused(f"cannot read {source}: {error}. Nothing was changed.") from None
    try:
        with closing(sqlite3.connect(copy)) as checked:
            result = checked.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.Error as error:
        raise CopyRefused(f"{source} is not a subsite backup ({error}). Nothing was changed.") from None
    if result != "ok":
        raise CopyRefused(f"{source} is damaged ({result}). Nothing was changed.")
    try:
        return _count_posts(copy)
    except sqlite3.Error as error:
        raise CopyRefused(f"{source} is not a subsite backup ({error}). Nothing was changed.") from None


def _keep(database, kept):
    """Copy the posts in ``database`` to a new file named ``kept`` (or kept-2, ...); return its name."""
    name = None
    try:
        current = connect(database, "ro")
        name = _create_new(kept)
        _copy(current, sqlite3.connect(name))
    except (sqlite3.Error, OSError) as error:
        if name is not None:
            name.unlink(missing_ok=True)
        raise CopyRefused(f"cannot keep the current posts beside {database}: {error}. Nothing was changed.") from None
    return name


def _create_new(path):
    """Create an empty 0600 file at ``path``, or at path-2, path-3, ... if taken; return its path."""
    for number in itertools.count(1):
        name = path if number == 1 else path.with_name(f"{path.name}-{number}")
        try:
            os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
        except FileExistsError:
            continue
        return name


def connect(path, mode):
    """Open the database at ``path`` in ``mode`` (ro, rw); never create it. Waits up to 5 s for the app's locks."""
    # By URI, so that "?", "#" or "%" in the name are taken as they are.
    return sqlite3.connect(f"{Path(path).absolute().as_uri()}?mode={mode}", uri=True, timeout=5.0)


def _copy(source, target):
    """Copy every page of ``source`` into ``target`` in one step (SQLite's online backup); close both."""
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()


def _count_posts(path):
    with closing(sqlite3.connect(path)) as copy:
        return copy.execute("SELECT count(*) FROM posts").fetchone()[0]
