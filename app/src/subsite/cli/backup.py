"""`subsite backup FILE` and `subsite restore FILE`: the posts database, safely while the app runs.

The database is in WAL mode and every uWSGI worker keeps it open, so recent
changes may still be in the -wal file beside it: copying subsite.db misses
them, and copying a file over it mixes the old -wal into the new file. Both
commands go through SQLite's online backup instead, which takes the app's
locks and gives a consistent copy either way.

Root only opens FILE, never a file of the app's: every step on the database
runs as the app's user in a child (dbcopy.py), which gets FILE's descriptor.

Both refuse a PostgreSQL database, naming pg_dump and pg_restore instead.
"""

import errno
import os
import stat
import time
from pathlib import Path

from .. import dbcopy, layout, postgres, privileges, settings
from . import uwsgi_config
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
    output = _create(target)
    try:
        posts = _write_backup(database, output, target)
    except BaseException:
        _remove(target, output)
        raise
    finally:
        os.close(output)
    print(f"Backed up {database} to {target} ({posts} posts).")
    print(f"Uploaded images are files in {uploads}/; copy that directory as well.")
    return OK


def run_restore(args):
    database, uploads = _data_paths()
    source = args.file
    backup = _open_backup(source)
    kept = database.with_name(f"{database.name}.before-restore-{time.strftime('%Y%m%d-%H%M%S')}")
    try:
        uwsgi_config.make_generation_dir()      # the app may not have started since the machine booted
        done = _as_web_user(dbcopy.restore, backup, str(source), str(database), str(kept))
    finally:
        os.close(backup)
    print(f"Restored {done['posts']} posts from {source} into {database}; the app serves them now.")
    print(f"The posts it replaced are kept in {done['kept']}.")
    print(f"Uploaded images are files in {uploads}/; restore that directory from the same backup.")
    return OK


def _data_paths():
    try:
        current = settings.load()
    except settings.SettingsError as error:
        raise Refused(f"{error}. Nothing was done.") from None
    if postgres.is_url(current.database):
        raise Refused(f"the database is PostgreSQL ({postgres.describe(current.database)}), and 'subsite backup' and "
                      "'subsite restore' copy an SQLite file only. Use PostgreSQL's own tools: pg_dump -Fc -f FILE "
                      "DATABASE to back up, pg_restore --clean -d DATABASE FILE to restore, then restart the app "
                      "on every host (systemctl restart subsite). Nothing was done.")
    return Path(current.database), Path(current.uploads)


def _as_web_user(function, *args):
    """Return ``function(*args)`` run as the app's user in a child; its refusal is the command's."""
    try:
        return privileges.run_as(layout.WEB_USER, function, *args, expected=(dbcopy.CopyRefused,))
    except dbcopy.CopyRefused as error:
        raise Refused(str(error)) from None


def _write_backup(database, output, target):
    """Have the app's user copy ``database`` into the descriptor ``output``; return how many posts it holds."""
    posts = _as_web_user(dbcopy.back_up, str(database), output, str(target))
    try:
        os.fsync(output)
    except OSError as error:
        raise Refused(f"cannot back up {database} to {target}: {error}. Nothing was written.") from None
    return posts


def _create(target):
    """Open a new 0600 file at ``target`` for writing: never an existing file, never through a link."""
    try:
        # O_EXCL fails on any name taken, a link included, dangling or not.
        return os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        raise Refused(f"{target} already exists; name a new file. Nothing was written.") from None
    except OSError as error:
        raise Refused(f"cannot create {target}: {error.strerror}. Nothing was written.") from None


def _remove(target, output):
    """Remove the file created at ``target`` (open as ``output``), unless another one has taken its name since."""
    try:
        if os.path.samestat(os.fstat(output), os.lstat(target)):
            os.unlink(target)
    except OSError:
        pass


def _open_backup(source):
    """Open the file ``source`` for reading; refuse a link or anything but a file."""
    try:
        # O_NONBLOCK: a named pipe is refused below instead of waiting for a writer.
        backup = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise Refused(f"{source} is not a file. Nothing was changed.") from None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise Refused(f"{source} is a symbolic link; name the backup file itself. Nothing was changed.") from None
        raise Refused(f"cannot read {source}: {error.strerror}. Nothing was changed.") from None
    if not stat.S_ISREG(os.fstat(backup).st_mode):
        os.close(backup)
        raise Refused(f"{source} is not a file. Nothing was changed.")
    return backup
