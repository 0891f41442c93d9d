import sqlite3
from types import SimpleNamespace

import pytest

from subsite import db, generation, layout
from subsite.cli import main


@pytest.fixture
def database(tmp_path, monkeypatch):
    """The app's database, named in a settings file, with two posts."""
    path = tmp_path / "data" / "subsite.db"
    path.parent.mkdir()
    settings_file = tmp_path / "subsite.ini"
    settings_file.write_text(f"[subsite]\nprefix = /subsite\ndatabase = {path}\nuploads = {tmp_path / 'uploads'}\n")
    monkeypatch.setattr(layout, "SETTINGS_FILE", settings_file)
    add_posts(path, "first", "second")
    return path


def add_posts(path, *titles):
    with db.connect(path) as conn:
        for title in titles:
            conn.execute("INSERT INTO posts (title, body) VALUES (?, 'text')", (title,))


def titles(path):
    conn = sqlite3.connect(path)
    try:
        return [row[0] for row in conn.execute("SELECT title FROM posts ORDER BY id")]
    finally:
        conn.close()


def test_backup_then_restore_brings_the_posts_back(database, tmp_path, capsys):
    copy = tmp_path / "copy.db"
    assert main(["backup", str(copy)]) == 0
    assert "(2 posts)" in capsys.readouterr().out
    assert copy.stat().st_mode & 0o777 == 0o600
    add_posts(database, "third")

    assert main(["restore", str(copy)]) == 0
    assert titles(database) == ["first", "second"]
    out = capsys.readouterr().out
    assert "Restored 2 posts" in out
    # Nothing is lost: the posts the restore replaced are kept beside the database.
    kept = [p for p in database.parent.iterdir() if ".before-restore-" in p.name]
    assert len(kept) == 1 and str(kept[0]) in out
    assert titles(kept[0]) == ["first", "second", "third"]


def test_backup_holds_changes_still_in_the_write_ahead_log(database, tmp_path):
    # A worker's connection is open and its last insert is not checkpointed yet:
    # a copy of subsite.db alone would miss it.
    worker = db.connect(database)
    with worker:
        worker.execute("INSERT INTO posts (title, body) VALUES ('recent', 'text')")
    assert (database.parent / "subsite.db-wal").stat().st_size > 0
    assert main(["backup", str(tmp_path / "copy.db")]) == 0
    assert titles(tmp_path / "copy.db") == ["first", "second", "recent"]
    worker.close()


def test_a_running_worker_sees_the_restored_posts(database, tmp_path):
    assert main(["backup", str(tmp_path / "copy.db")]) == 0
    worker = db.connection(database)  # kept open, as in a uWSGI worker
    add_posts(database, "third")
    assert len(worker.execute("SELECT * FROM posts").fetchall()) == 3
    assert main(["restore", str(tmp_path / "copy.db")]) == 0
    assert [row["title"] for row in db.connection(database).execute("SELECT title FROM posts")] == ["first", "second"]


def test_backup_never_overwrites_a_file(database, tmp_path, capsys):
    existing = tmp_path / "copy.db"
    existing.write_text("keep me")
    assert main(["backup", str(existing)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert existing.read_text() == "keep me"


def test_backup_never_overwrites_a_file_made_while_it_copies(database, tmp_path, monkeypatch, capsys):
    from subsite.cli import backup

    target = tmp_path / "copy.db"
    copy = backup._copy

    def copy_while_someone_writes_the_target(source, destination):
        copy(source, destination)
        target.write_text("made meanwhile")

    monkeypatch.setattr(backup, "_copy", copy_while_someone_writes_the_target)
    assert main(["backup", str(target)]) == 1
    assert "already exists; name a new file. Nothing was written." in capsys.readouterr().err
    assert target.read_text() == "made meanwhile"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.db", "data", "subsite.ini"]


def test_two_restores_in_the_same_second_keep_both_replaced_states(database, tmp_path, monkeypatch):
    from subsite.cli import backup

    monkeypatch.setattr(backup, "time", SimpleNamespace(strftime=lambda fmt: "20240101-120000"))
    copy = tmp_path / "copy.db"
    assert main(["backup", str(copy)]) == 0
    add_posts(database, "third")
    assert main(["restore", str(copy)]) == 0
    add_posts(database, "fourth")
    assert main(["restore", str(copy)]) == 0
    first = database.with_name("subsite.db.before-restore-20240101-120000")
    second = first.with_name(f"{first.name}-2")
    assert titles(first) == ["first", "second", "third"]
    assert titles(second) == ["first", "second", "fourth"]
    assert first.stat().st_mode & 0o777 == 0o600 and second.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(("content", "reason"), [(None, "is not a file"),
                                                 (b"not a database" * 512, "is not a subsite backup")])
def test_restore_refuses_what_is_not_a_backup(database, tmp_path, capsys, content, reason):
    source = tmp_path / "source.db"
    if content is not None:
        source.write_bytes(content)
    assert main(["restore", str(source)]) == 1
    assert reason in capsys.readouterr().err
    assert titles(database) == ["first", "second"]
    assert not [p for p in database.parent.iterdir() if ".before-restore-" in p.name]


def test_restore_refuses_another_apps_database(database, tmp_path, capsys):
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    assert main(["restore", str(other)]) == 1
    assert "no such table: posts" in capsys.readouterr().err
    assert titles(database) == ["first", "second"]


def test_restore_refuses_a_link_in_place_of_the_database(database, tmp_path, capsys):
    # The app's user can write beside the database: root must not write through its links.
    backup = tmp_path / "board.db"
    assert main(["backup", str(backup)]) == 0
    elsewhere = tmp_path / "roots.db"
    database.rename(elsewhere)
    database.symlink_to(elsewhere)
    assert main(["restore", str(backup)]) == 1
    assert "is a symbolic link" in capsys.readouterr().err
    assert not list(database.parent.glob("*before-restore*"))


def test_restore_gives_an_old_backup_the_current_tables(database, tmp_path):
    old = tmp_path / "old.db"
    conn = sqlite3.connect(old)
    conn.execute("CREATE TABLE posts (id INTEGER PRIMARY KEY, title TEXT NOT NULL, body TEXT NOT NULL,"
                 " image TEXT NULL, created TEXT)")
    conn.commit()
    conn.close()
    assert main(["restore", str(old)]) == 0
    conn = sqlite3.connect(database)
    assert conn.execute("SELECT count(*) FROM login_attempts").fetchone() == (0,)
    conn.close()


def test_backup_without_a_database_says_where_it_looked(tmp_path, monkeypatch, capsys):
    settings_file = tmp_path / "subsite.ini"
    settings_file.write_text(f"[subsite]\nprefix = /subsite\ndatabase = {tmp_path / 'none.db'}\n")
    monkeypatch.setattr(layout, "SETTINGS_FILE", settings_file)
    assert main(["backup", str(tmp_path / "copy.db")]) == 1
    assert f"there is no database at {tmp_path / 'none.db'}" in capsys.readouterr().err
    assert not list(tmp_path.glob("*copy.db*"))


def test_file_names_are_taken_as_they_are(database, tmp_path):
    # SQLite opens the files by URI; a name with "?", "#" or "%" must not change it.
    copy = tmp_path / "board #1?%20.db"
    assert main(["backup", str(copy)]) == 0
    add_posts(database, "third")
    assert main(["restore", str(copy)]) == 0
    assert titles(database) == ["first", "second"]


def test_restore_ends_every_admin_session(database, tmp_path):
    conn = db.connect(database)
    joined = generation.start(conn)
    copy = tmp_path / "copy.db"
    assert main(["backup", str(copy)]) == 0
    assert main(["restore", str(copy)]) == 0
    # The backup held the generation a session had joined; it is not current again.
    assert generation.current(db.connect(database)) not in (None, joined)
