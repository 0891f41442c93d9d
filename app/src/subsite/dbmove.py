"""The schema brought up to date, and an SQLite board moved into PostgreSQL: the steps of `subsite migrate` and `subsite migrate-to`.

`subsite check` reads the database through ``status`` and ``stored_images``.

Root's commands run these as the web user (privileges.run_as), as they do
dbcopy's: the SQLite file is www-data's, and so is the passfile libpq reads
for PostgreSQL (libpq ignores a passfile its group may read). Results go
back as JSON; failures as MoveRefused (the admin must fix something) or
DatabaseFailed (the database could not be reached or read), with messages
that name the database without its password.
"""

import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

from . import dbcopy, generation, layout, migrations, pagecache, postgres, sql

# Posts sent to PostgreSQL in one round of executemany.
BATCH = 1000
# The columns of a post, as `subsite migrate-to` copies them.
POST_COLUMNS = "id, title, body, image, created"
GENERATION_TABLES = (generation.TABLE, pagecache.TABLE)


class MoveRefused(Exception):
    """Something the admin must fix; the message says what, where and what to do."""


class DatabaseFailed(Exception):
    """The database could not be reached or read; the message says which and why."""


def _open(database):
    """Open ``database`` for a step, never creating an SQLite file nor migrating anything."""
    if postgres.is_url(database):
        return postgres.connect(database)
    path = Path(database)
    if not path.is_file():
        raise MoveRefused(f"there is no database at {path}; is subsite installed and its app started? "
                          "Nothing was done.")
    return sqlite3.connect(f"{path.absolute().as_uri()}?mode=rw", uri=True, timeout=5.0)


def _failed(database, error):
    where, said = postgres.where(database), str(error)
    # A PostgresError names the database already.
    return DatabaseFailed(f"cannot use the database {said if said.startswith(where + ': ') else f'{where}: {said}'}")


def status(database):
    """Return where ``database`` stands: its version, this release's, the pending migrations and any problem."""
    try:
        with closing(_open(database)) as conn:
            found = migrations.state(conn)
    except (sqlite3.Error, postgres.PostgresError) as error:
        raise _failed(database, error) from None
    problem = migrations.problem(found, postgres.where(database), migrates_itself=True)
    return {"version": found.version, "latest": migrations.LATEST, "legacy": found.legacy,
            "pending": [[m.number, m.description] for m in migrations.MIGRATIONS if m.number > found.version],
            "newer": [[number, description] for number, description, _ in found.newer],
            "problem": str(problem) if problem else None}


def stored_images(database):
    """Return how many images the PostgreSQL ``database`` keeps for every host (its uploads table)."""
    try:
        with closing(_open(database)) as conn:
            return conn.execute("SELECT count(*) FROM uploads").fetchone()[0]
    except postgres.PostgresError as error:
        raise _failed(database, error) from None


def migrate(database):
    """Apply the pending migrations to ``database``; return the versions before and after and what was applied."""
    try:
        with closing(_open(database)) as conn:
            before, after, applied = migrations.migrate(conn, postgres.where(database))
    except (sqlite3.Error, postgres.PostgresError) as error:
        raise _failed(database, error) from None
    except migrations.SchemaError as error:
        raise MoveRefused(f"{error}. Nothing was changed.") from None
    return {"before": before.version, "after": after, "legacy": before.legacy, "applied": applied}


def move(source, target, replace=False, uploads_dir=None):
    """Copy the SQLite board ``source`` into the PostgreSQL database ``target``; return what was copied.

    The target's schema is made by the migrations; a target holding posts is
    refused unless ``replace``, which deletes them first. Every post keeps its
    id, title, body, image name and created time; the sessions' and the
    board's generations come along (admin sessions stay logged in), and the
    posts' images from ``uploads_dir`` (every host then serves them); the ids
    PostgreSQL gives new posts continue after the largest. All of it is one
    transaction, checked (count, largest id, sum of ids) before its commit.
    ``source`` is read in one read transaction, a consistent snapshot while
    the app goes on writing, and left as it was.
    """
    try:
        dbcopy.check_database(source)
    except dbcopy.CopyRefused as error:
        raise MoveRefused(str(error)) from None
    try:
        with closing(dbcopy.connect(source, "ro")) as origin, closing(postgres.connect(target)) as conn:
            return _move(origin, conn, source, target, replace, uploads_dir)
    except sqlite3.Error as error:
        raise _failed(source, error) from None
    except postgres.PostgresError as error:
        raise _failed(target, error) from None
    except migrations.SchemaError as error:
        raise MoveRefused(f"{error}. Nothing was copied.") from None


def _move(origin, conn, source, target, replace, uploads_dir):
    found = migrations.state(origin)
    if found.version == 0 and not found.legacy:
        raise MoveRefused(f"{source} holds no subsite board. Nothing was copied.")
    migrations.migrate(conn, postgres.where(target))
    origin.execute("BEGIN")     # one snapshot for every read below
    expected = _summary(origin)
    images = origin.execute("SELECT count(*) FROM posts WHERE image IS NOT NULL").fetchone()[0]
    generations = {table: generation.read(origin, table) if migrations.has_table(origin, table) else None
                   for table in GENERATION_TABLES}
    with sql.locked(conn, "LOCK TABLE posts IN EXCLUSIVE MODE"):
        present = conn.execute("SELECT count(*) FROM posts").fetchone()[0]
        if present and not replace:
            raise MoveRefused(f"{postgres.where(target)} already holds {present} posts; name an empty database, or add "
                              "--replace to delete them first. Nothing was copied.")
        conn.execute("DELETE FROM posts")
        conn.execute("DELETE FROM login_attempts")
        rows = origin.execute(f"SELECT {POST_COLUMNS} FROM posts ORDER BY id")
        while batch := rows.fetchmany(BATCH):
            conn.executemany(f"INSERT INTO posts ({POST_COLUMNS}) VALUES (?, ?, ?, ?, ?)", batch)
        stored, missing = _copy_images(origin, conn, uploads_dir)
        for table, value in generations.items():
            conn.execute(f"DELETE FROM {table}")
            if value is not None:
                conn.execute(f"INSERT INTO {table} (id, value) VALUES (?, ?)", (generation.ROW, value))
        # The next id PostgreSQL gives is one past the largest copied.
        conn.execute("SELECT setval(pg_get_serial_sequence('posts', 'id'), "
                     "(SELECT coalesce(max(id), 0) + 1 FROM posts), false)")
        copied = _summary(conn)
        if copied != expected:
            raise MoveRefused(f"the copy in {postgres.where(target)} does not match {source} (posts, largest id, sum of "
                              f"ids: {copied} against {expected}); it was rolled back. Nothing was copied.")
    origin.rollback()
    return {"posts": expected[0], "last_id": expected[1], "version": found.version, "images": images,
            "images_stored": stored, "images_missing": missing,
            "generations": [table for table, value in generations.items() if value is not None]}


def _copy_images(origin, conn, uploads_dir):
    """Put the posts' images from ``uploads_dir`` into the target's uploads table; return (stored, missing names)."""
    conn.execute("DELETE FROM uploads")
    if uploads_dir is None:
        return 0, []
    created = datetime.now(UTC).isoformat(timespec="seconds")
    stored, missing = 0, []
    for (name,) in origin.execute("SELECT DISTINCT image FROM posts WHERE image IS NOT NULL ORDER BY image"):
        try:
            data = (Path(uploads_dir) / name).read_bytes() if layout.UPLOAD_NAME.fullmatch(name) else None
        except OSError:
            data = None
        if data is None:
            missing.append(name)
            continue
        conn.execute("INSERT INTO uploads (name, data, created) VALUES (?, ?, ?)", (name, data, created))
        stored += 1
    return stored, missing


def _summary(conn):
    """(posts, largest id, sum of ids) of the posts in ``conn``'s database."""
    row = conn.execute("SELECT count(*), coalesce(max(id), 0), coalesce(sum(id), 0) FROM posts").fetchone()
    return [int(value) for value in row]
