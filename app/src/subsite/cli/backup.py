"""`subsite backup FILE` and `subsite restore FILE`: the posts database, safely while the app runs.

The database is in WAL mode and every uWSGI worker keeps it open, so recent
changes may still be in the -wal file beside it: copying subsite.db misses
them, and copying a file over it mixes the old -wal into the new file. Both
commands go through SQLite's online backup instead, which takes the app's
locks and gives a consistent copy either way.
"""

import itertools
import os
import sqlite3
import time
from contextlib import closing
from pathlib import Path

from .. import settings
from .common import OK, Refused


def add_parser(subs):
    parser = subs.add_parser("backup", help="copy the posts database to FILE, safely while the app runs")
    parser.add_argument("file", type=Path, metavar="FILE", help="a new file (an existing one is never overwritten)")
    parser.set_defaults(run=run_backup)
    parser = subs.add_parser("restore", help="put the posts in FILE (a backup) in place of the current ones")
    parser.add_argument("file", type=Path, metavar="FILE", help="a file written by 'subsite backup'")
    parser.set_defaults(run=run_restore)


def run_backup(args):
    database, uploads = _data_paths()
    target = args.file
    if target.exists():
        raise Refused(f"{target} already exists; name a new file. Nothing was written.")
    partial = target.with_name(f".{target.name}.partial")
    try:
        _copy(_open_existing(database, readonly=True), sqlite3.connect(partial))
        os.chmod(partial, 0o600)
        os.link(partial, target)  # unlike a rename, fails if the target appeared meanwhile
    except FileExistsError:
        raise Refused(f"{target} already exists; name a new file. Nothing was written.") from None
    except (sqlite3.Error, OSError) as error:
        raise Refused(f"cannot back up {database} to {target}: {error}. Nothing was written.") from None
    finally:
        partial.unlink(missing_ok=True)
    print(f"Backed up {database} to {target} ({_count_posts(target)} posts).")
    print(f"Uploaded images are files in {uploads}/; copy that directory as well.")
    return OK


def run_restore(args):
    # Imported here: db needs Flask, which the other commands do without.
    from .. import db, generation

    database, uploads = _data_paths()
    source = args.file
    posts = _check_backup(source)
    kept = None
    try:
        current = _open_existing(database, readonly=True)
        # Created afresh: a kept copy from an earlier restore in the same second is never overwritten.
        kept = _create_new(database.with_name(f"{database.name}.before-restore-{time.strftime('%Y%m%d-%H%M%S')}"))
        _copy(current, sqlite3.connect(kept))
    except (sqlite3.Error, OSError) as error:
        if kept is not None:
            kept.unlink(missing_ok=True)
        raise Refused(f"cannot keep the current posts beside {database}: {error}. Nothing was changed.") from None
    try:
        _copy(_connect(source, "ro"), _open_existing(database, readonly=False))
        # A backup from an older release may lack a table the workers made at their start.
        with closing(_open_existing(database, readonly=False)) as restored:
            restored.executescript(db.SCHEMA)
            # The backup holds the session generation of its day: admin
            # sessions logged out since then must not count again.
            generation.end_all(restored)
    except (sqlite3.Error, OSError) as error:
        raise Refused(f"cannot restore {source} into {database}: {error}. "
                      f"The posts from before are kept in {kept}.") from None
    print(f"Restored {posts} posts from {source} into {database}; the app serves them now.")
    print(f"The posts it replaced are kept in {kept}.")
    print(f"Uploaded images are files in {uploads}/; restore that directory from the same backup.")
    return OK


def _data_paths():
    try:
        current = settings.load()
    except settings.SettingsError as error:
        raise Refused(f"{error}. Nothing was done.") from None
    return Path(current.database), Path(current.uploads)


def _create_new(path):
    """Create an empty 0600 file at ``path``, or at path-2, path-3, ... if taken; return its path."""
    for number in itertools.count(1):
        name = path if number == 1 else path.with_name(f"{path.name}-{number}")
        try:
            os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
        except FileExistsError:
            continue
        return name


def _open_existing(path, readonly):
    """Open the app's database, which must exist: it is created by the app, owned by its user."""
    if path.is_symlink():
        # The app's user may write beside the database; root must not follow its links.
        raise Refused(f"{path} is a symbolic link, not the app's database; move it away. Nothing was done.")
    if not path.is_file():
        raise Refused(f"there is no database at {path}; is subsite installed and its app started? Nothing was done.")
    return _connect(path, "ro" if readonly else "rw")


def _connect(path, mode):
    """Open ``path`` in ``mode`` (ro, rw); never create it. Waits up to 5 s for the app's locks."""
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode={mode}", uri=True, timeout=5.0)


def _copy(source, target):
    """Copy every page of ``source`` into ``target`` in one step (SQLite's online backup); close both."""
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()


def _check_backup(path):
    """Return how many posts the backup at ``path`` holds; refuse a file that is not a sound one."""
    if not path.is_file():
        raise Refused(f"{path} is not a file. Nothing was changed.")
    try:
        with closing(_connect(path, "ro")) as backup:
            result = backup.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.Error as error:
        raise Refused(f"{path} is not a subsite backup ({error}). Nothing was changed.") from None
    if result != "ok":
        raise Refused(f"{path} is damaged ({result}). Nothing was changed.")
    try:
        return _count_posts(path)
    except sqlite3.Error as error:
        raise Refused(f"{path} is not a subsite backup ({error}). Nothing was changed.") from None


def _count_posts(path):
    with closing(_connect(path, "ro")) as copy:
        return copy.execute("SELECT count(*) FROM posts").fetchone()[0]
