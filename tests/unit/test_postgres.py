"""PostgreSQL through postgres.Connection: sqlite3's manners, bounded failures, and reconnecting by itself."""

import time
from contextlib import closing

import pytest

from support import AuthActions
from subsite import db, postgres


def test_rows_read_like_sqlite3_rows(pg_url):
    with closing(postgres.connect(pg_url)) as conn:
        row = conn.execute("SELECT 1 AS one, ? AS two, '100%' AS three", ("x",)).fetchone()
    assert row[0] == 1 and row["two"] == "x" and row[-1] == "100%"
    assert tuple(row) == (1, "x", "100%") and dict(row) == {"one": 1, "two": "x", "three": "100%"}


def test_with_commits_or_rolls_back_as_sqlite3_does(pg_url):
    with closing(postgres.connect(pg_url)) as conn:
        with conn:
            conn.execute("INSERT INTO posts (title, body) VALUES ('kept', 'x')")
            assert conn.in_transaction
        assert not conn.in_transaction
        with pytest.raises(ZeroDivisionError), conn:
            conn.execute("INSERT INTO posts (title, body) VALUES ('dropped', 'x')")
            1 / 0
        assert [row["title"] for row in conn.execute("SELECT title FROM posts")] == ["kept"]


def test_errors_name_the_database_without_the_query(pg_url):
    with closing(postgres.connect(pg_url)) as conn:
        with pytest.raises(postgres.PostgresError, match=r"^postgresql:///postgres: .*no_such_table"):
            conn.execute("SELECT * FROM no_such_table")


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql://subsite:secret@db.example:5433/board?passfile=/etc/subsite/pgpass",
     "postgresql://subsite@db.example:5433/board"),
    ("postgresql://a,b:5433/board", "postgresql://a,b:5433/board"),
    ("postgres:///board?host=/run/postgresql", "postgres:///board"),
    ("postgresql://subsite:secret@[db.example/board", "postgresql://(a URL that cannot be read)"),
])
def test_describe_drops_the_password_and_the_query(url, shown):
    assert postgres.describe(url) == shown


def test_the_timeouts_bound_a_request(pg_url):
    """A statement gives up after STATEMENT_TIMEOUT (unless the URL sets its own), connecting after CONNECT_TIMEOUT."""
    with closing(postgres.connect(pg_url)) as conn:
        assert conn.execute("SHOW statement_timeout").fetchone()[0] == "5s"
    assert postgres._conninfo(pg_url)["connect_timeout"] == postgres.CONNECT_TIMEOUT == 3
    quick = pg_url + "%20-c%20statement_timeout%3D100"
    with closing(postgres.connect(quick)) as conn:
        started = time.monotonic()
        with pytest.raises(postgres.PostgresError, match="statement timeout"):
            conn.execute("SELECT pg_sleep(5)")
        assert time.monotonic() - started < 2


def test_the_app_serves_and_reports_health_on_postgresql(make_client, pg_url, frontend):
    frontend.config["DATABASE"] = pg_url
    with frontend.app_context():
        post_id = db.create_post("On PostgreSQL", "Its body", "0123abcd.png")
    client = make_client(DATABASE=pg_url)
    assert client.get("/_health").json["database"] == "ok"
    assert "On PostgreSQL" in client.get("/").text
    assert "Its body" in client.get(f"/posts/{post_id}").text
    assert client.get("/api/posts").json[0]["image"].endswith("/uploads/0123abcd.png")
    assert "On PostgreSQL" in client.get("/dir/").text
    # Logging in and out: the login limit, the sessions' generation.
    auth = AuthActions(client)
    assert auth.login().status_code == 303
    assert client.get("/admin/").status_code == 200
    auth.logout()
    assert client.get("/admin/").status_code == 303


def test_the_app_reconnects_by_itself_after_postgresql_restarts(make_client, pg_url, postgres_server):
    client = make_client(DATABASE=pg_url)
    assert client.get("/").status_code == 200
    postgres_server.stop()
    try:
        started = time.monotonic()
        down = client.get("/")
        assert down.status_code == 503 and "database is unreachable" in down.text
        health = client.get("/_health")
        assert health.status_code == 503 and "postgresql:///postgres" in health.json["database"]
        assert time.monotonic() - started < 10
    finally:
        postgres_server.start()
    # The worker's connection was lost: the next request opens another by itself.
    assert client.get("/_health").status_code == 200
    page = client.get("/")
    assert page.status_code == 200


def test_a_connection_lost_between_requests_is_replaced_without_a_failure(make_client, pg_url, postgres_server):
    client = make_client(DATABASE=pg_url)
    assert client.get("/").status_code == 200
    postgres_server.stop()
    postgres_server.start()
    assert client.get("/").status_code == 200


def test_a_write_after_a_restart_is_kept(pg_url, postgres_server, frontend):
    frontend.config["DATABASE"] = pg_url
    with frontend.app_context():
        first = db.create_post("Before", "x")
    postgres_server.stop()
    postgres_server.start()
    with frontend.app_context():
        second = db.create_post("After", "x")
        assert [row["id"] for row in db.list_posts()] == [second, first]
