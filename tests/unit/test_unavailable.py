"""A database that cannot serve: 503 with a page (JSON under /api/) and Retry-After, for reads and writes alike."""

import io
import logging
import sqlite3
from contextlib import closing, contextmanager

import pytest

from support import PNG, AuthActions
from subsite import db, postgres
from subsite.unavailable import MESSAGE, NOT_SAVED


def assert_unavailable(response, said=MESSAGE):
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.headers["Cache-Control"] == "no-store"
    # nginx keeps only what carries X-Accel-Expires.
    assert "X-Accel-Expires" not in response.headers and "Set-Cookie" not in response.headers
    body = response.json["error"] if response.is_json else response.text
    assert said in body.replace("&#39;", "'")


@contextmanager
def stopped(server):
    """PostgreSQL stopped for the block (as during a restart), started again after it."""
    server.stop()
    try:
        yield
    finally:
        server.start()


@pytest.fixture
def logged_in(make_client, pg_url):
    """A client logged in to the admin of an app on PostgreSQL."""
    client = make_client(DATABASE=pg_url)
    auth = AuthActions(client)
    assert auth.login().status_code == 303
    return client, auth.token()


def test_a_page_while_postgresql_is_down_is_a_503_page_logged_once(make_client, pg_url, postgres_server, caplog):
    client = make_client(DATABASE=pg_url)
    assert client.get("/").status_code == 200
    with stopped(postgres_server), caplog.at_level(logging.ERROR):
        page = client.get("/")
        assert_unavailable(page)
        assert "<title>Unavailable" in page.text and "/static/style.css" in page.text
        assert_unavailable(client.get("/api/posts"))
    logged = [record.getMessage() for record in caplog.records if record.name.startswith("subsite")]
    assert len(logged) == 2, logged             # once for each request
    for said, path in zip(logged, ("/", "/api/posts")):
        assert f"answered 503 to GET '{client.prefix}{path}': postgresql:///postgres: " in said
    assert "Traceback" not in caplog.text
    assert client.get("/").status_code == 200


def test_a_page_of_an_unreachable_database_is_a_503_page(make_client, tmp_path):
    # No server listens in that directory: libpq fails to connect at once.
    client = make_client(DATABASE=f"postgresql:///subsite?host={tmp_path}&user=subsite")
    for path in ("/", "/posts/1", "/dir/"):
        assert_unavailable(client.get(path))
    assert_unavailable(client.get("/api/posts/1"))


def test_a_post_while_postgresql_is_down_says_it_may_not_be_saved(logged_in, postgres_server, frontend, pg_url):
    client, token = logged_in
    with stopped(postgres_server):
        form = client.post("/admin/posts/new", data={"title": "Lost", "body": "x", "csrf_token": token})
        assert_unavailable(form, NOT_SAVED)
        assert "<title>Unavailable" in form.text
        api = client.post("/admin/api/posts", json={"title": "Lost", "body": "x"}, headers={"X-CSRF-Token": token})
        assert_unavailable(api, NOT_SAVED)
    frontend.config["DATABASE"] = pg_url
    with frontend.app_context():
        assert db.list_posts() == []


def test_an_image_the_database_cannot_take_is_not_kept_and_reading_goes_on(make_client, postgres_server, pg_url,
                                                                           config, tmp_path, add_post, frontend):
    # The uploads table is locked, so storing the image waits until the URL's
    # statement timeout (the store is down); the posts can still be read.
    quick = pg_url + "%20-c%20statement_timeout%3D300"
    frontend.config["DATABASE"] = quick
    add_post("Readable", "x")
    client = make_client(DATABASE=quick)
    auth = AuthActions(client)
    assert auth.login().status_code == 303
    token = auth.token()
    with closing(postgres.connect(pg_url)) as locker, locker:
        locker.execute("LOCK TABLE uploads IN ACCESS EXCLUSIVE MODE")
        form = client.post("/admin/posts/new", data={"title": "With an image", "body": "x", "csrf_token": token,
                                                     "image": (io.BytesIO(PNG), "a.png")})
        assert_unavailable(form, NOT_SAVED)
        assert "Readable" in client.get("/").text
    assert list((tmp_path / "uploads").iterdir()) == []
    assert [post["title"] for post in client.get("/api/posts").json] == ["Readable"]
    for key in [key for key in db._connections if key[2] == quick]:
        db._connections.pop(key)[0].close()


def test_sqlite_locked_past_its_timeout_is_unreachable_and_a_wrong_statement_is_not(tmp_path):
    path = tmp_path / "locked.db"
    with closing(sqlite3.connect(path, isolation_level=None)) as holder, \
            closing(sqlite3.connect(path, timeout=0)) as waiter:
        holder.execute("CREATE TABLE t (x)")
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(sqlite3.OperationalError) as locked:
            waiter.execute("SELECT * FROM t")
        holder.execute("ROLLBACK")
        with pytest.raises(sqlite3.OperationalError) as wrong:
            waiter.execute("SELECT * FROM no_such_table")
    assert db.unreachable(locked.value) and "locked" in str(locked.value)
    assert not db.unreachable(wrong.value)


def test_a_wrong_statement_on_postgresql_is_not_taken_for_an_outage(pg_url):
    with closing(postgres.connect(pg_url)) as conn:
        with pytest.raises(postgres.PostgresError) as wrong:
            conn.execute("SELECT * FROM no_such_table")
    assert not db.unreachable(wrong.value)
    with pytest.raises(postgres.Unavailable) as down:
        postgres.connect(pg_url.replace("host=", "host=/nonexistent"))
    assert db.unreachable(down.value)
