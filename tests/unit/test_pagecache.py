"""The board's generation (pagecache.py) and what the public pages tell nginx and browsers.

nginx's side (the cache's key, what it never caches) is in test_nginx.py; the
whole chain, with real nginx and uWSGI, in tests/install/test_cache.py.
"""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from support import csrf_token
from subsite import db, pagecache


@pytest.fixture
def board(frontend):
    """(the generation in the database, what the link nginx resolves names) of the frontend's board."""
    database = frontend.config["DATABASE"]

    def now():
        conn = db.connect(database)
        try:
            return pagecache.current(conn), pagecache.published(pagecache.folder())
        finally:
            conn.close()

    return now


def assert_published(state):
    value, published = state
    assert value is not None and published == pagecache.content(value)


def test_the_link_is_in_memory_at_a_short_path():
    # nginx resolves it part by part on every cached request (the tests each have their own).
    said = subprocess.run([sys.executable, "-c", "from subsite import pagecache; print(pagecache.link())"],
                          capture_output=True, text=True, check=True).stdout
    assert said == "/run/subsite/current\n"


def test_publish_points_the_link_at_the_generations_directory(tmp_path):
    path = tmp_path / "generation"
    pagecache.publish(path, "aaaa")
    link = path / pagecache.LINK
    assert os.readlink(link) == pagecache.content("aaaa"), "relative: it resolves inside the directory"
    assert link.resolve() == path / pagecache.content("aaaa") and link.resolve().is_dir()
    pagecache.publish(path, "bbbb")
    assert link.resolve() == path / pagecache.content("bbbb")
    assert not [p for p in path.iterdir() if p.name.startswith(".")], "no temporary link left"


def test_publish_removes_only_directories_replaced_long_ago(tmp_path):
    path = tmp_path / "generation"
    for value in ("old", "recent"):
        pagecache.publish(path, value)
    old, recent = (path / pagecache.content(v) for v in ("old", "recent"))
    long_ago = os.stat(old).st_mtime - pagecache.KEEP_REPLACED - 5
    os.utime(old, (long_ago, long_ago))
    (path / "other").mkdir()
    (path / "other" / "file").write_text("not ours")
    os.utime(path / "other", (long_ago, long_ago))
    pagecache.publish(path, "now")
    assert not old.exists(), "replaced long ago: gone"
    assert recent.is_dir(), "a request may still be making its key with it"
    assert (path / "other" / "file").exists(), "only empty directories are removed"
    # The current one stays, however old.
    current = path / pagecache.content("now")
    os.utime(current, (long_ago, long_ago))
    pagecache.publish(path, "now")
    assert current.is_dir()


WRITES = {
    "form": lambda client, token, post_id: client.post(
        "/admin/posts/new", data={"csrf_token": token, "title": "New", "body": "Body"}),
    "api": lambda client, token, post_id: client.post(
        "/admin/api/posts", json={"title": "New", "body": "Body"}, headers={"X-CSRF-Token": token}),
    "edit": lambda client, token, post_id: client.post(
        f"/admin/posts/{post_id}/edit", data={"csrf_token": token, "title": "Edited", "body": "Body"}),
    "delete": lambda client, token, post_id: client.post(
        f"/admin/posts/{post_id}/delete", data={"csrf_token": token}),
}


@pytest.mark.parametrize("write", WRITES)
def test_every_write_replaces_the_generation_and_publishes_it_before_answering(client, auth, add_post, board,
                                                                                write):
    post_id = add_post()
    before = board()
    assert_published(before)
    auth.login()
    token = csrf_token(client.get("/admin/posts/new").text)
    answer = WRITES[write](client, token, post_id)
    assert answer.status_code == 303, answer.text
    after = board()
    assert after[0] != before[0], "a new generation in the database"
    assert_published(after)


def test_a_refused_write_or_a_login_keeps_the_generation(client, auth, add_post, board):
    add_post()
    before = board()
    auth.login()
    token = csrf_token(client.get("/admin/posts/new").text)
    assert client.post("/admin/posts/new", data={"csrf_token": token, "title": "", "body": "x"}).status_code == 400
    assert client.post("/admin/posts/new", data={"title": "t", "body": "x"}).status_code == 400   # no CSRF token
    auth.logout()
    assert board() == before


def test_the_generation_changes_in_the_writes_transaction(frontend, tmp_path):
    # A poller on another host that sees the new generation finds the post with it.
    with frontend.app_context():
        db.create_post("One", "Body")
        conn = db.get_db()
        value = pagecache.current(conn)
        conn.execute("BEGIN")
        conn.execute("INSERT INTO posts (title, body) VALUES ('x', 'y')")
        pagecache.replace(conn)
        conn.rollback()
        assert pagecache.current(conn) == value


def test_a_write_nginx_cannot_be_told_of_fails_and_says_why(frontend):
    path = pagecache.folder()
    with frontend.app_context():
        db.create_post("One", "Body")
        (path / pagecache.LINK).unlink()
        (path / pagecache.LINK).mkdir()  # the link cannot be replaced
        with pytest.raises(pagecache.PublishError, match="The change is saved, but nginx may serve public pages"):
            db.create_post("Two", "Body")
        assert [row["title"] for row in db.list_posts()] == ["Two", "One"], "the post itself is kept"


def test_sync_makes_the_first_generation_and_publishes_only_a_change(tmp_path, monkeypatch):
    database = tmp_path / "subsite.db"
    path = pagecache.folder()
    conn = db.connect(database)
    first = pagecache.sync(conn, path)
    assert first and pagecache.published(path) == pagecache.content(first)
    link = path / pagecache.LINK
    written = link.lstat().st_mtime_ns, link.lstat().st_ino
    assert pagecache.sync(conn, path) == first
    assert (link.lstat().st_mtime_ns, link.lstat().st_ino) == written, "nothing to publish: the link stays"
    # Another start of the app: its pages must not be taken for the last one's.
    monkeypatch.setattr(pagecache, "START", "another-start")
    assert pagecache.sync(conn, path) == first
    assert pagecache.published(path) == f"{first}-another-start"


def test_sync_publishes_what_a_worker_killed_before_its_publish_committed(tmp_path):
    database = tmp_path / "subsite.db"
    path = pagecache.folder()
    conn = db.connect(database)
    pagecache.sync(conn, path)
    with conn:                            # committed, then the worker died
        conn.execute("INSERT INTO posts (title, body) VALUES ('x', 'y')")
        value = pagecache.replace(conn)
    assert pagecache.published(path) != pagecache.content(value)
    assert pagecache.sync(conn, path) == value
    assert pagecache.published(path) == pagecache.content(value)


LOCKED = """
import fcntl, os, sys
folder = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
try:
    fcntl.flock(folder, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    print("locked")
else:
    print("free")
"""


def test_publishing_holds_a_lock_other_processes_share(tmp_path):
    path = tmp_path / "generation"

    def other_process():
        return subprocess.run([sys.executable, "-c", LOCKED, str(path)], capture_output=True, text=True,
                              check=True).stdout.strip()

    with pagecache.publishing(path):
        assert other_process() == "locked"
    assert other_process() == "free"


def test_writes_commit_and_publish_under_the_lock(frontend, monkeypatch):
    # So that the file follows the commits in their order: never back to an older generation.
    events = []
    real_publish, real_replace = pagecache.publish, pagecache.replace

    class Lock:
        def __init__(self, path):
            pass

        def __enter__(self):
            events.append("lock")

        def __exit__(self, *exc):
            events.append("unlock")

    monkeypatch.setattr(pagecache, "publishing", Lock)
    monkeypatch.setattr(pagecache, "replace", lambda conn: events.append("replace") or real_replace(conn))
    monkeypatch.setattr(pagecache, "publish", lambda path, value: events.append("publish") or real_publish(path, value))
    with frontend.app_context():
        db.create_post("One", "Body")
    assert events == ["lock", "replace", "publish", "unlock"]


def test_publish_swaps_the_link_in_one_step(tmp_path, monkeypatch):
    # nginx resolves it at any moment: it must always name a generation's directory.
    path = tmp_path / "g"
    seen = []
    real_replace = os.replace

    def replace(a, b):
        assert Path(a).is_symlink() and Path(a).resolve().is_dir(), "the new link is whole before it replaces"
        seen.append(Path(b))
        real_replace(a, b)
    monkeypatch.setattr(pagecache.os, "replace", replace)
    pagecache.publish(path, "abc")
    assert seen == [path / pagecache.LINK] and pagecache.published(path) == pagecache.content("abc")
    assert (path / pagecache.content("abc")).stat().st_mode & 0o777 == 0o755       # nginx's workers resolve it


# ---- what the pages tell nginx and browsers ---------------------------------------------------

PUBLIC = ["/", "/?before=3", "/posts/1", "/dir/", "/dir/?before=3", "/api/posts", "/api/posts?before=3",
          "/api/posts/1"]


@pytest.mark.parametrize("path", PUBLIC)
def test_public_pages_may_be_kept_by_nginx_and_revalidated_by_browsers(client, add_post, path):
    add_post("Hello", "A notice.")
    page = client.get(path)
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-cache"         # browsers ask every time
    assert int(page.headers["X-Accel-Expires"]) > 0             # nginx may keep it (its key changes with a write)
    etag = page.headers["ETag"]
    assert etag.startswith('"') and "Set-Cookie" not in page.headers
    again = client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b"" and again.headers["ETag"] == etag
    head = client.head(path, headers={"If-None-Match": etag})
    assert head.status_code == 304
    assert client.get(path, headers={"If-None-Match": '"other"'}).status_code == 200
    assert client.get(path, headers={"If-Match": '"other"'}).status_code == 412     # a failed precondition


def test_the_etag_follows_the_page(client, add_post):
    add_post("Hello", "A notice.")
    before = client.get("/").headers["ETag"]
    assert client.get("/").headers["ETag"] == before
    add_post("Another", "A notice.")
    assert client.get("/").headers["ETag"] != before
    assert client.get("/", headers={"If-None-Match": before}).status_code == 200


@pytest.mark.parametrize("path", ["/admin/login", "/admin/", "/_health", "/posts/99", "/api/posts/99", "/dir",
                                  "/nowhere", "/static/style.css"])
def test_nothing_else_is_marked_for_nginx(client, path):
    answer = client.get(path)
    assert "X-Accel-Expires" not in answer.headers, (path, answer.status_code)


def test_the_admins_pages_are_never_marked_even_logged_in(client, auth, add_post):
    post_id = add_post()
    auth.login()
    for path in ("/admin/", f"/admin/posts/{post_id}/edit", "/admin/posts/new", "/admin/api/csrf",
                 "/admin/diagnostics"):
        answer = client.get(path)
        assert answer.status_code == 200 and "X-Accel-Expires" not in answer.headers, path
        assert answer.headers["Cache-Control"] == "no-store"


def test_the_test_pages_are_never_marked(make_client):
    client = make_client(TEST_ENDPOINTS=True)
    answer = client.get("/_test/sleep?seconds=0")
    assert answer.status_code == 200 and "X-Accel-Expires" not in answer.headers


def test_public_pages_do_not_depend_on_the_clients_address(make_client, add_post):
    # nginx's key leaves the address out (test_nginx.py): no public page may show it.
    client = make_client(trusted_proxies=1, trusted_headers=("for", "proto", "host", "port", "prefix"))
    add_post("Hello", "A notice.")
    for path in PUBLIC:
        first = client.get(path, headers={"X-Forwarded-For": "203.0.113.1"},
                           environ_overrides={"REMOTE_ADDR": "1.2.3.4"})
        second = client.get(path, headers={"X-Forwarded-For": "198.51.100.2"},
                            environ_overrides={"REMOTE_ADDR": "5.6.7.8"})
        assert first.data == second.data, path


def test_published_never_fails_on_an_odd_file(tmp_path):
    assert pagecache.published(tmp_path / "missing") is None
    (tmp_path / "file").write_bytes(b"\xff\xfe")
    assert pagecache.published(tmp_path / "file") is None
    (tmp_path / "folder" / pagecache.LINK).mkdir(parents=True)
    assert pagecache.published(tmp_path / "folder") is None


def test_the_schema_holds_the_board_generation(tmp_path):
    conn = db.connect(tmp_path / "x.db")
    columns = [row["name"] for row in conn.execute("PRAGMA table_info(board_generation)")]
    assert columns == ["id", "value"]
    with pytest.raises(sqlite3.IntegrityError):
        with conn:
            conn.execute("INSERT INTO board_generation (id, value) VALUES (2, 'x')")
