import os
import sqlite3

import pytest
from werkzeug.exceptions import NotFound

from subsite import db, migrations
from subsite.admin import create_admin
from subsite.frontend import create_frontend


@pytest.fixture
def both(on_backend):
    """The frontend on each backend in turn."""
    return create_frontend(on_backend)


@pytest.fixture
def ctx(both):
    with both.app_context():
        yield


@pytest.fixture
def sqlite_ctx(frontend):
    with frontend.app_context():
        yield


def test_connect_makes_the_schema_on_both_backends(backend_database):
    conn = db.connect(backend_database)
    try:
        assert migrations.state(conn).version == migrations.LATEST
        columns = [row[0] for row in conn.execute("SELECT * FROM posts").description]
        assert columns == ["id", "title", "body", "image", "created"]
        for table in ("login_attempts", "session_generation", "board_generation"):
            assert migrations.has_table(conn, table)
    finally:
        conn.close()


def test_connect_sets_pragmas_and_schema(tmp_path):
    connection = db.connect(tmp_path / "x.db")
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert connection.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
        columns = {row["name"]: row for row in connection.execute("PRAGMA table_info(posts)")}
        assert list(columns) == ["id", "title", "body", "image", "created"]
        assert columns["title"]["notnull"] and columns["body"]["notnull"] and not columns["image"]["notnull"]
        assert columns["id"]["pk"]
    finally:
        connection.close()


def test_schema_is_idempotent(tmp_path):
    first = db.connect(tmp_path / "x.db")
    first.execute("INSERT INTO posts (title, body) VALUES ('kept', 'b')")
    first.commit()
    first.close()
    second = db.connect(tmp_path / "x.db")
    assert second.execute("SELECT title FROM posts").fetchone()[0] == "kept"
    second.close()


def test_connection_is_kept_without_an_open_transaction(both):
    frontend = both
    with frontend.app_context():
        connection = db.get_db()
        assert db.get_db() is connection
        # (On PostgreSQL a statement outside BEGIN commits by itself: the app writes only in transactions.)
        connection.execute("BEGIN")
        connection.execute("INSERT INTO posts (title, body) VALUES ('unfinished', 'x')")
        assert connection.in_transaction
    assert not connection.in_transaction, "the teardown rolled the request's transaction back"
    with frontend.app_context():
        assert db.get_db() is connection
        assert db.list_posts() == []


def test_a_replaced_database_file_is_opened_again(frontend, tmp_path):
    with frontend.app_context():
        first = db.get_db()
        db.create_post("Before the restore", "x")
        first.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # as a restore needs
    backup = db.connect(tmp_path / "backup.db")
    backup.execute("INSERT INTO posts (title, body) VALUES ('From the backup', 'y')")
    backup.commit()
    backup.close()
    os.replace(tmp_path / "backup.db", frontend.config["DATABASE"])
    with frontend.app_context():
        assert db.get_db() is not first
        assert [row["title"] for row in db.list_posts()] == ["From the backup"]


def test_a_removed_database_is_set_up_again(frontend):
    path = frontend.config["DATABASE"]
    with frontend.app_context():
        db.create_post("Before the removal", "x")
    for suffix in ("", "-wal", "-shm"):
        os.unlink(path + suffix)
    with frontend.app_context():
        assert db.list_posts() == []
        assert db.get_db().execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_crud(ctx):
    assert db.list_posts() == []
    first = db.create_post("One", "Body one")
    second = db.create_post("Two", "Body two", "abc.png")
    assert [row["id"] for row in db.list_posts()] == [second, first]
    row = db.get_post(second)
    assert (row["title"], row["body"], row["image"]) == ("Two", "Body two", "abc.png")
    assert row["created"].endswith("+00:00")
    db.update_post(first, "Uno", "Cuerpo", None)
    assert db.get_post(first)["title"] == "Uno"
    db.delete_post(first)
    assert db.get_post(first) is None
    assert [row["id"] for row in db.list_posts()] == [second]


def test_get_post_or_404(ctx):
    post_id = db.create_post("x", "y")
    assert db.get_post_or_404(post_id)["id"] == post_id
    with pytest.raises(NotFound):
        db.get_post_or_404(post_id + 1)


def test_both_apps_share_the_database(both, on_backend):
    frontend, admin = both, create_admin(on_backend)
    with admin.app_context():
        post_id = db.create_post("From admin", "x")
    with frontend.app_context():
        assert db.get_post(post_id)["title"] == "From admin"


def test_check_raises_when_unusable(tmp_path):
    with pytest.raises(sqlite3.Error):
        db.check(tmp_path / "no" / "such" / "dir.db")


def test_check_needs_no_app_and_shares_the_request_connection(both):
    frontend = both
    path = frontend.config["DATABASE"]
    db.check(path)
    with frontend.app_context():
        assert db.get_db() is db.connection(path)


def test_check_raises_when_postgresql_cannot_be_reached(postgres_server):
    url = postgres_server.url("no_such_database")
    with pytest.raises(db.ERRORS, match="no_such_database"):
        db.check(url)


def test_list_posts_pages_on_both_backends(ctx):
    ids = [db.create_post(f"Notice {number}", "x") for number in range(5)]
    assert [row["id"] for row in db.list_posts()] == ids[::-1]
    assert [row["id"] for row in db.list_posts(limit=2)] == ids[:2:-1]
    assert [row["id"] for row in db.list_posts(before=ids[2])] == ids[1::-1]
    assert [row["id"] for row in db.list_posts(limit=1, before=ids[2])] == [ids[1]]


def _steps(conn, query):
    """How many SQLite virtual machine steps ``query()`` takes on ``conn``."""
    steps = 0

    def count():
        nonlocal steps
        steps += 1
        return 0
    conn.set_progress_handler(count, 1)
    try:
        query()
    finally:
        conn.set_progress_handler(None, 1)
    return steps


def test_the_public_pages_queries_do_not_grow_with_the_board(sqlite_ctx):
    """The front page, a page far back and a post's page cost the same with 100 and 20,000 posts.

    Each is a search of the posts' primary key (EXPLAIN QUERY PLAN: SEARCH/SCAN
    posts by rowid, no sort), so their steps do not depend on the board's size;
    a full scan or a sort would multiply them. (The benchmark's growth table
    measures the same up to 1,000,000 posts.)
    """
    conn = db.get_db()

    def steps_at(total):
        have = conn.execute("SELECT coalesce(max(id), 0) FROM posts").fetchone()[0]
        with conn:
            conn.executemany("INSERT INTO posts (title, body) VALUES (?, ?)",
                             ((f"Notice {i}", "A notice.") for i in range(have, total)))
        return {"front": _steps(conn, lambda: db.list_posts(limit=21)),
                "deep": _steps(conn, lambda: db.list_posts(limit=21, before=max(total // 10, 22))),
                "post": _steps(conn, lambda: db.get_post(total // 2))}

    small = steps_at(100)
    assert all(steps > 0 for steps in small.values())
    assert steps_at(20_000) == small
