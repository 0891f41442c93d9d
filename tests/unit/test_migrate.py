"""`subsite migrate` and `subsite migrate-to URL`, run as the web user, with exit codes that say what happened."""

import os
import pwd
import sqlite3
from contextlib import closing

import pytest

from test_migrations import POSTS, SCHEMA_1_0_0, old_board
from subsite import db, generation, layout, migrations, pagecache, postgres
from subsite.cli import main
from subsite.migrations import LATEST


@pytest.fixture
def settings_with(tmp_path, monkeypatch):
    """Write settings naming ``database``; the web user is this test's user."""
    monkeypatch.setattr(layout, "WEB_USER", pwd.getpwuid(os.geteuid()).pw_name)

    def write(database):
        settings_file = tmp_path / "subsite.ini"
        settings_file.write_text(f"[subsite]\nprefix = /subsite\ndatabase = {database}\n")
        monkeypatch.setattr(layout, "SETTINGS_FILE", settings_file)
        return database

    return write


def test_migrate_brings_postgresql_up_to_date_once(settings_with, empty_pg_url, capsys):
    settings_with(empty_pg_url)
    assert main(["migrate", "--check"]) == 1
    out = capsys.readouterr().out
    assert f"schema version 0; this release needs {LATEST}" in out and "Run: subsite migrate" in out
    assert main(["migrate"]) == 0
    out = capsys.readouterr().out
    assert f"from schema version 0 to {LATEST}" in out and "applied 1: posts" in out
    assert "?host=" not in out
    assert main(["migrate"]) == 0
    assert "up to date" in capsys.readouterr().out
    assert main(["migrate", "--check"]) == 0


def test_migrate_on_a_1_0_0_sqlite_board_keeps_every_row(settings_with, tmp_path, capsys):
    path = settings_with(tmp_path / "subsite.db")
    old_board(path, SCHEMA_1_0_0)
    assert main(["migrate", "--check"]) == 1
    assert main(["migrate"]) == 0
    out = capsys.readouterr().out
    assert "from before schema versions" in out and f"to {LATEST}" in out
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT * FROM posts ORDER BY id").fetchall() == POSTS


def test_migrate_check_refuses_a_database_a_newer_release_changed(settings_with, pg_url, capsys):
    settings_with(pg_url)
    with closing(postgres.connect(pg_url)) as conn, conn:
        conn.execute("INSERT INTO schema_migrations VALUES (?, 'a rename', 0, 'now')", (LATEST + 1,))
    assert main(["migrate", "--check"]) == 1
    assert "upgrade subsite on this host" in capsys.readouterr().out
    assert main(["migrate"]) == 1
    assert "Nothing was changed" in capsys.readouterr().err


def test_migrate_says_when_the_database_cannot_be_reached(settings_with, postgres_server, capsys):
    settings_with(postgres_server.url("no_such_database"))
    assert main(["migrate"]) == 4
    err = capsys.readouterr().err
    assert "cannot use the database postgresql:///no_such_database" in err and "no_such_database" in err


def test_migrate_without_an_sqlite_file_changes_nothing(settings_with, tmp_path, capsys):
    settings_with(tmp_path / "none.db")
    assert main(["migrate"]) == 1
    assert "there is no database" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()


@pytest.fixture
def board(settings_with, tmp_path):
    """An SQLite board in use: posts (one with an image, ids with a gap), both generations, a failed login."""
    path = settings_with(tmp_path / "subsite.db")
    with closing(db.connect(path)) as conn:
        with conn:
            conn.executemany("INSERT INTO posts VALUES (?, ?, ?, ?, ?)", POSTS)
            conn.execute("INSERT INTO login_attempts VALUES ('192.0.2.1', 1.5)")
            pagecache.replace(conn)
        generation.start(conn)
    return path


def test_migrate_to_copies_every_post_with_its_id_image_and_the_generations(board, pg_url, capsys):
    with closing(sqlite3.connect(board)) as conn:
        before = conn.execute("SELECT * FROM posts ORDER BY id").fetchall()
        generations = [generation.read(conn, table) for table in (generation.TABLE, pagecache.TABLE)]
    assert main(["migrate-to", pg_url]) == 0
    out = capsys.readouterr().out
    assert "Copied 3 posts (ids up to 7, 1 with an image)" in out
    assert f"database = {pg_url}" in out and f"set database = {board} again" in out
    with closing(postgres.connect(pg_url)) as conn:
        assert [tuple(row) for row in conn.execute("SELECT * FROM posts ORDER BY id")] == POSTS
        assert [generation.read(conn, table) for table in (generation.TABLE, pagecache.TABLE)] == generations
        # The next post PostgreSQL makes comes after the largest id copied.
        with conn:
            assert conn.execute("INSERT INTO posts (title, body) VALUES ('n', 'b') RETURNING id").fetchone()[0] == 8
    with closing(sqlite3.connect(board)) as conn:
        assert conn.execute("SELECT * FROM posts ORDER BY id").fetchall() == before, "the source is left as it was"


def test_migrate_to_makes_the_schema_of_an_empty_database(board, empty_pg_url):
    assert main(["migrate-to", empty_pg_url]) == 0
    with closing(postgres.connect(empty_pg_url)) as conn:
        assert migrations.state(conn).version == LATEST


def test_migrate_to_refuses_a_target_with_posts_unless_told(board, pg_url, capsys):
    with closing(postgres.connect(pg_url)) as conn, conn:
        conn.execute("INSERT INTO posts (title, body) VALUES ('already there', 'x')")
    assert main(["migrate-to", pg_url]) == 1
    assert "already holds 1 posts" in capsys.readouterr().err
    assert main(["migrate-to", "--replace", pg_url]) == 0
    with closing(postgres.connect(pg_url)) as conn:
        assert [row["title"] for row in conn.execute("SELECT title FROM posts ORDER BY id")] == [
            post[1] for post in POSTS]


def test_migrate_to_copies_a_1_0_0_board(settings_with, tmp_path, pg_url):
    old_board(settings_with(tmp_path / "subsite.db"), SCHEMA_1_0_0)
    assert main(["migrate-to", pg_url]) == 0
    with closing(postgres.connect(pg_url)) as conn:
        assert [tuple(row) for row in conn.execute("SELECT * FROM posts ORDER BY id")] == POSTS


@pytest.mark.parametrize(("url", "said"), [
    ("postgresql://subsite:secret@db.example/subsite", "a password in the settings file"),
    ("postgresql://db.example/subsite?nosuch=1", "libpq cannot read it"),
    ("/var/lib/other.db", "is not a PostgreSQL URL"),
])
def test_migrate_to_refuses_a_bad_url(board, url, said, capsys):
    assert main(["migrate-to", url]) == 1
    err = capsys.readouterr().err
    assert said in err and "secret" not in err


def test_migrate_to_refuses_when_the_board_is_already_on_postgresql(settings_with, pg_url, capsys):
    settings_with(pg_url)
    assert main(["migrate-to", pg_url]) == 1
    assert "already PostgreSQL" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["backup", "restore"])
def test_backup_and_restore_name_pg_dump_on_postgresql(settings_with, pg_url, tmp_path, command, capsys):
    settings_with(pg_url)
    (tmp_path / "backup.db").write_bytes(b"")
    assert main([command, str(tmp_path / ("backup.db" if command == "restore" else "new.db"))]) == 1
    err = capsys.readouterr().err
    assert "pg_dump" in err and "Nothing was done" in err
    assert not (tmp_path / "new.db").exists()


def test_migrate_to_puts_the_images_in_the_database_for_every_host(settings_with, tmp_path, pg_url, capsys,
                                                                   monkeypatch):
    uploads_dir = tmp_path / "uploads"
    uploads_dir.mkdir()
    name, gone = "ab" * 16 + ".png", "cd" * 16 + ".gif"
    (uploads_dir / name).write_bytes(b"\x89PNG\r\n\x1a\nbytes")
    path = settings_with(tmp_path / "subsite.db")
    layout.SETTINGS_FILE.write_text(layout.SETTINGS_FILE.read_text() + f"uploads = {uploads_dir}\n")
    with closing(db.connect(path)) as conn, conn:
        conn.executemany("INSERT INTO posts (title, body, image) VALUES (?, ?, ?)",
                         [("a", "b", name), ("again", "b", name), ("lost", "b", gone), ("none", "b", None)])
    assert main(["migrate-to", pg_url]) == 0
    out = capsys.readouterr().out
    assert "1 images were copied into it too" in out and f"not copied: {gone}" in out
    with closing(postgres.connect(pg_url)) as conn:
        rows = conn.execute("SELECT name, data FROM uploads").fetchall()
    assert [(row[0], bytes(row[1])) for row in rows] == [(name, b"\x89PNG\r\n\x1a\nbytes")]
