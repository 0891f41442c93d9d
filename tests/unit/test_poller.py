"""The poller (poller.py): each host's page cache follows writes made through other hosts (PostgreSQL)."""

from contextlib import closing

from subsite import db, layout, pagecache, poller
from subsite.cli import uwsgi_config


def write_through_another_host(url):
    """What a write on another host leaves in the shared database: a new board generation."""
    with closing(db.connect(url)) as conn:
        with conn:
            conn.execute("INSERT INTO posts (title, body) VALUES (?, ?)", ("From B", "Body"))
            return pagecache.replace(conn)


def test_a_write_through_another_host_is_published_here_at_the_next_round(pg_url):
    here = pagecache.folder()
    poller.run(pg_url, sleep=lambda s: None, rounds=1)
    first = pagecache.published(here)
    assert first
    value = write_through_another_host(pg_url)
    assert pagecache.published(here) == first, "nothing here knows of it yet"
    poller.run(pg_url, sleep=lambda s: None, rounds=1)
    assert pagecache.published(here) == pagecache.content(value)


def test_the_poller_waits_a_period_between_rounds_and_keeps_one_connection(pg_url, monkeypatch):
    slept, opened = [], []
    real_connect = db.connect
    monkeypatch.setattr(db, "connect", lambda url: opened.append(url) or real_connect(url))
    poller.run(pg_url, sleep=slept.append, rounds=3)
    assert slept == [poller.PERIOD] * 3 and poller.PERIOD <= 0.5, "a write is seen within a second"
    assert opened == [pg_url]


def test_a_database_that_went_away_is_retried_and_said_once(postgres_server, capsys):
    missing = postgres_server.url(database="no_such_board")
    poller.run(missing, sleep=lambda s: None, rounds=3)
    err = capsys.readouterr().err
    assert err.count("subsite: cannot follow the board's generation in") == 1, err
    assert "no_such_board" in err and "retrying every 0.5 s" in err
    assert pagecache.published(pagecache.folder()) is None


def test_the_poller_comes_back_when_the_database_does(pg_url, monkeypatch, capsys):
    calls = []
    real = poller.poll_once

    def flaky(database, conn):
        calls.append(1)
        if len(calls) == 1:
            raise OSError("connection refused")
        return real(database, conn)
    monkeypatch.setattr(poller, "poll_once", flaky)
    poller.run(pg_url, sleep=lambda s: None, rounds=2)
    err = capsys.readouterr().err
    assert "connection refused" in err and "the page cache follows the database again" in err
    assert pagecache.published(pagecache.folder())


def test_uwsgi_runs_the_poller_in_a_mule_only_with_postgresql():
    sqlite = uwsgi_config.config("/subsite", str(layout.UWSGI_SOCKET), layout.DATABASE_FILE)
    assert "mule" not in sqlite
    shared = uwsgi_config.config("/subsite", str(layout.UWSGI_SOCKET), "postgresql://subsite@db/subsite")
    assert shared.splitlines()[-1] == f"mule = {uwsgi_config.POLLER}"
    assert uwsgi_config.POLLER.is_file() and uwsgi_config.POLLER.name == "poller.py"
    assert "if __name__ == \"__main__\":\n    main()" in uwsgi_config.POLLER.read_text(), "uWSGI runs it as __main__"
