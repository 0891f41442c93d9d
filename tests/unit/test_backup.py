import json
import os
import pwd
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from subsite import db, dbcopy, generation, layout, pagecache
from subsite.cli import main, uwsgi_config

ME = pwd.getpwuid(os.geteuid()).pw_name


@pytest.fixture(autouse=True)
def web_user_is_me(monkeypatch):
    """The steps run as the web user run as the user running the tests (see the tests as root below)."""
    monkeypatch.setattr(layout, "WEB_USER", ME)


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
    conn = db.connect(path)
    try:
        with conn:
            for title in titles:
                conn.execute("INSERT INTO posts (title, body) VALUES (?, 'text')", (title,))
    finally:
        conn.close()  # the last connection to go removes -wal and -shm


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


def test_backup_never_writes_through_a_link_at_the_target(database, tmp_path, capsys):
    victim = tmp_path / "authorized_keys"
    link = tmp_path / "copy.db"
    link.symlink_to(victim)
    assert main(["backup", str(link)]) == 1
    assert "already exists; name a new file. Nothing was written." in capsys.readouterr().err
    assert not victim.exists() and link.is_symlink()
    victim.write_text("keep me")
    assert main(["backup", str(link)]) == 1
    assert victim.read_text() == "keep me"


def test_backup_writes_nothing_beside_the_target(database, tmp_path):
    # Whoever may write the target's directory (anyone, for /tmp) could plant a
    # link at any other name root wrote there: root writes only the new target.
    victim = tmp_path / "authorized_keys"
    (tmp_path / ".copy.db.partial").symlink_to(victim)
    assert main(["backup", str(tmp_path / "copy.db")]) == 0
    assert not victim.exists() and (tmp_path / ".copy.db.partial").is_symlink()
    assert titles(tmp_path / "copy.db") == ["first", "second"]


def test_a_failed_backup_removes_the_file_it_created(database, tmp_path, monkeypatch, capsys):
    def count_fails(path):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(dbcopy, "_count_posts", count_fails)  # in the child too: it is forked
    assert main(["backup", str(tmp_path / "copy.db")]) == 1
    assert "disk I/O error. Nothing was written." in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "subsite.ini"]


def test_backup_says_when_the_web_user_has_no_temporary_directory(database, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))
    assert main(["backup", str(tmp_path / "copy.db")]) == 1
    assert "cannot make a temporary directory as the app's user" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "subsite.ini"]


def test_an_unexpected_failure_removes_the_file_too(database, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(dbcopy, "back_up", lambda *args: 1 / 0)
    assert main(["backup", str(tmp_path / "copy.db")]) == 3
    assert "ZeroDivisionError" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "subsite.ini"]


def test_a_failed_backup_leaves_a_file_that_took_the_name_meanwhile(database, tmp_path, monkeypatch):
    target = tmp_path / "copy.db"

    def replaced_then_fails(*args):
        target.rename(tmp_path / "moved.db")
        target.write_text("someone else's")
        raise dbcopy.CopyRefused("the copy failed. Nothing was written.")

    monkeypatch.setattr(dbcopy, "back_up", replaced_then_fails)
    assert main(["backup", str(target)]) == 1
    assert target.read_text() == "someone else's"


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
                                                 ("fifo", "is not a file"),
                                                 ("dir", "is not a file"),
                                                 ("link", "is a symbolic link; name the backup file itself"),
                                                 (b"not a database" * 512, "is not a subsite backup")])
def test_restore_refuses_what_is_not_a_backup(database, tmp_path, capsys, content, reason):
    source = tmp_path / "source.db"
    if content == "fifo":
        os.mkfifo(source)  # refused at once, not waited on for a writer
    elif content == "dir":
        source.mkdir()
    elif content == "link":
        assert main(["backup", str(tmp_path / "board.db")]) == 0
        source.symlink_to(tmp_path / "board.db")
    elif content is not None:
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


def test_restore_refuses_a_directory_in_place_of_the_database(database, tmp_path, capsys):
    backup = tmp_path / "board.db"
    assert main(["backup", str(backup)]) == 0
    database.rename(tmp_path / "moved.db")
    database.mkdir()
    assert main(["restore", str(backup)]) == 1
    assert "is not a file, so not the app's database; move it away" in capsys.readouterr().err
    assert not list(database.parent.glob("*before-restore*"))


# As root, for real: the installed layout with www-data's files, and Debian's
# fs.protected_regular = 2, under which root may not open them.

WEB = "www-data"

# A stand-in for a uWSGI worker: keeps the database open in WAL mode, its last
# post only in the -wal file, and answers each line on stdin with the titles it sees.
WORKER = """
import json, sqlite3, sys
conn = sqlite3.connect(sys.argv[1], timeout=5.0)
conn.execute("PRAGMA journal_mode = WAL")
with conn:
    conn.execute("INSERT INTO posts (title, body) VALUES ('recent', 'text')")
print("ready", flush=True)
while sys.stdin.readline():
    print(json.dumps([row[0] for row in conn.execute("SELECT title FROM posts ORDER BY id")]), flush=True)
"""


@pytest.fixture
def protected_regular():
    """Set fs.protected_regular to 2 (Debian's procps default) for the test; put the old value back after."""
    knob = "/proc/sys/fs/protected_regular"
    try:
        with open(knob) as current:
            old = current.read()
        with open(knob, "w") as setting:
            setting.write("2\n")
    except OSError as error:
        pytest.skip(f"cannot set {knob}: {error}")
    try:
        yield
    finally:
        with open(knob, "w") as setting:
            setting.write(old)


@pytest.fixture
def served(tmp_path_factory, monkeypatch, protected_regular):
    """/var/lib/subsite as installed (root:www-data 1770), www-data's database, a worker holding -wal and -shm."""
    if os.geteuid() != 0:
        pytest.skip("needs root: sets owners and drops privileges")
    web = pwd.getpwnam(WEB)
    # Not under tmp_path: pytest's own directory is closed to www-data.
    top = Path(tempfile.mkdtemp(prefix="subsite-served-"))
    top.chmod(0o711)
    data = top / "lib"
    data.mkdir()
    os.chown(data, 0, web.pw_gid)
    data.chmod(0o1770)
    database = data / "subsite.db"
    add_posts(database, "first", "second")
    os.chown(database, web.pw_uid, web.pw_gid)
    settings_file = top / "subsite.ini"
    settings_file.write_text(f"[subsite]\nprefix = /subsite\ndatabase = {database}\nuploads = {data / 'uploads'}\n")
    monkeypatch.setattr(layout, "SETTINGS_FILE", settings_file)
    monkeypatch.setattr(layout, "WEB_USER", WEB)
    (top / "run").mkdir()
    monkeypatch.setattr(layout, "GENERATION_DIR", top / "run" / layout.NAME)
    uwsgi_config.make_generation_dir()      # as each start of the app does, as root
    worker = subprocess.Popen([sys.executable, "-c", WORKER, str(database)], user=WEB, group=WEB, extra_groups=[],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def seen_by_worker():
        worker.stdin.write("titles\n")
        worker.stdin.flush()
        return json.loads(worker.stdout.readline())

    try:
        with worker:  # at the end: stdin closed, so the worker ends; waited for
            assert worker.stdout.readline() == "ready\n"
            assert {p.name: p.stat().st_uid for p in data.iterdir()} == {
                "subsite.db": web.pw_uid, "subsite.db-wal": web.pw_uid, "subsite.db-shm": web.pw_uid}
            yield SimpleNamespace(top=top, data=data, database=database, web=web, seen_by_worker=seen_by_worker)
    finally:
        shutil.rmtree(top)


def as_root_copy(path, top):
    """Return a copy of ``path`` that root may open with SQLite (root may not open www-data's file in place)."""
    copy = top / f"copy-of-{path.name}"
    shutil.copyfile(path, copy)
    return copy


def test_root_may_not_write_the_apps_database_itself(served):
    # What the old restore did, and why it failed with "attempt to write a readonly database".
    with pytest.raises(PermissionError):
        os.open(served.database.with_name("subsite.db-wal"), os.O_RDWR | os.O_CREAT)
    conn = sqlite3.connect(f"{served.database.as_uri()}?mode=rw", uri=True)
    with pytest.raises(sqlite3.OperationalError, match="readonly database"):
        conn.execute("INSERT INTO posts (title, body) VALUES ('root', 'text')")
    conn.close()


def test_restore_as_root_works_with_the_app_running(served, capsys):
    board = served.top / "board.db"  # root's 0600 file, which www-data may not open
    add_posts(board, "from the backup")
    board.chmod(0o600)
    assert served.seen_by_worker() == ["first", "second", "recent"]

    assert main(["restore", str(board)]) == 0
    assert "Restored 1 posts" in capsys.readouterr().out
    assert served.seen_by_worker() == ["from the backup"]
    kept = [p for p in served.data.iterdir() if ".before-restore-" in p.name]
    assert len(kept) == 1
    info = kept[0].stat()
    assert (info.st_uid, info.st_mode & 0o777) == (served.web.pw_uid, 0o600)
    assert titles(as_root_copy(kept[0], served.top)) == ["first", "second", "recent"]
    assert sorted(p.name for p in served.data.iterdir()) == sorted(
        ["subsite.db", "subsite.db-wal", "subsite.db-shm", kept[0].name])
    # The generation nginx reads (page cache), published as the web user, which nginx reads as www-data.
    info = layout.GENERATION_DIR.stat()
    assert (info.st_uid, info.st_mode & 0o777) == (served.web.pw_uid, 0o755)
    assert (layout.GENERATION_DIR / "current").lstat().st_uid == served.web.pw_uid
    assert (layout.GENERATION_DIR / "current").resolve().is_dir()


def test_restore_before_the_app_started_since_boot_makes_the_generations_directory(served, capsys):
    # /run/subsite is in memory: after a boot it is there only once the app started.
    shutil.rmtree(layout.GENERATION_DIR)
    board = served.top / "board.db"
    add_posts(board, "from the backup")
    assert main(["restore", str(board)]) == 0
    assert "Restored 1 posts" in capsys.readouterr().out
    info = layout.GENERATION_DIR.stat()
    assert (info.st_uid, info.st_mode & 0o777) == (served.web.pw_uid, 0o755)
    assert (layout.GENERATION_DIR / "current").resolve().is_dir()


def test_backup_as_root_works_with_the_app_running(served, capsys):
    copy = served.top / "copy.db"
    assert main(["backup", str(copy)]) == 0
    assert "(3 posts)" in capsys.readouterr().out
    info = copy.stat()
    assert (info.st_uid, info.st_mode & 0o777) == (0, 0o600)
    assert titles(copy) == ["first", "second", "recent"]
    assert sorted(p.name for p in served.data.iterdir()) == ["subsite.db", "subsite.db-shm", "subsite.db-wal"]


def test_root_opens_no_database_with_sqlite(served, monkeypatch):
    # A file www-data controls could hold a view or a damaged page: only www-data reads it.
    connect = sqlite3.connect

    def only_as_the_web_user(*args, **kwargs):
        if os.geteuid() != served.web.pw_uid:
            raise AssertionError(f"SQLite opened {args[0]} as uid {os.geteuid()}")
        return connect(*args, **kwargs)

    board = served.top / "board.db"
    add_posts(board, "from the backup")
    with monkeypatch.context() as patched:
        patched.setattr(sqlite3, "connect", only_as_the_web_user)
        assert main(["backup", str(served.top / "copy.db")]) == 0
        assert main(["restore", str(board)]) == 0
    assert served.seen_by_worker() == ["from the backup"]


def test_restore_as_root_refuses_a_link_planted_in_place_of_the_database(served, capsys):
    board = served.top / "board.db"
    add_posts(board, "from the backup")
    roots = served.top / "roots.db"
    add_posts(roots, "root's own")
    roots.chmod(0o600)
    before = roots.read_bytes()
    served.database.rename(served.data / "moved.db")
    served.database.symlink_to(roots)
    assert main(["restore", str(board)]) == 1
    assert "is a symbolic link, not the app's database; move it away" in capsys.readouterr().err
    assert roots.read_bytes() == before
    assert not list(served.data.glob("*before-restore*"))


def test_restore_ends_every_admin_session(database, tmp_path):
    conn = db.connect(database)
    joined = generation.start(conn)
    copy = tmp_path / "copy.db"
    assert main(["backup", str(copy)]) == 0
    assert main(["restore", str(copy)]) == 0
    # The backup held the generation a session had joined; it is not current again.
    assert generation.current(db.connect(database)) not in (None, joined)


def test_restore_gives_the_board_a_new_generation_and_publishes_it(database, tmp_path):
    # The public pages nginx keeps are keyed by it: they show the restored posts at once.
    conn = db.connect(database)
    before = pagecache.sync(conn, pagecache.folder())
    copy = tmp_path / "copy.db"
    assert main(["backup", str(copy)]) == 0
    assert main(["restore", str(copy)]) == 0
    after = pagecache.current(db.connect(database))
    assert after not in (None, before), "the backup's generation is not current again"
    assert pagecache.published(pagecache.folder()).startswith(f"{after}-")


def test_a_restore_refused_for_the_generations_directory_changes_nothing(database, tmp_path, capsys):
    copy = tmp_path / "copy.db"
    assert main(["backup", str(copy)]) == 0
    add_posts(copy, "only in the backup")
    before = titles(database)
    layout.GENERATION_DIR.parent.mkdir(parents=True, exist_ok=True)
    layout.GENERATION_DIR.write_text("not a directory\n")
    assert main(["restore", str(copy)]) == 1
    assert f"{layout.GENERATION_DIR} should be a directory but is a link or a file" in capsys.readouterr().err
    assert titles(database) == before


def test_a_restore_nginx_cannot_be_told_of_says_so(database, tmp_path, capsys):
    copy = tmp_path / "copy.db"
    assert main(["backup", str(copy)]) == 0
    pagecache.link().mkdir(parents=True)       # the link cannot be replaced
    assert main(["restore", str(copy)]) == 1
    err = capsys.readouterr().err
    assert (f"restored {copy} into {database}, but cannot publish the board's generation in "
            f"{pagecache.folder()}") in err
    assert "nginx may serve public pages from before it" in err
