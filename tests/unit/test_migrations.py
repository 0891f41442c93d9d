"""The versioned schema: old boards brought up to date whole, half-runs, concurrent migrators, which releases may serve."""

import sqlite3
import threading
import time
from contextlib import closing

import pytest

from subsite import db, migrations, postgres
from subsite.migrations import LATEST, MIGRATIONS, Migration, SchemaError, State

# Release 1.0.0's schema, as its db.SCHEMA made it at every start (git show v1.0.0:app/src/subsite/db.py).
SCHEMA_1_0_0 = """
CREATE TABLE IF NOT EXISTS posts (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    image TEXT NULL,
    created TEXT
);
CREATE TABLE IF NOT EXISTS login_attempts (
    address TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS login_attempts_address ON login_attempts (address, at);
"""
# What 1.1.0 added before it had versions.
SCHEMA_EARLY_1_1_0 = SCHEMA_1_0_0 + """
CREATE INDEX IF NOT EXISTS login_attempts_at ON login_attempts (at);
CREATE TABLE IF NOT EXISTS session_generation (id INTEGER PRIMARY KEY CHECK (id = 1), value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS board_generation (id INTEGER PRIMARY KEY CHECK (id = 1), value TEXT NOT NULL);
"""
POSTS = [(1, "First", "Body", None, "2025-01-01T00:00:00+00:00"),
         (2, "With an image", "Body", "0123abcd.png", "2025-01-02T00:00:00+00:00"),
         (7, "After gaps", "Ünïcode ✓", None, None)]


def old_board(path, schema):
    with closing(sqlite3.connect(path)) as conn:
        conn.executescript(schema)
        with conn:
            conn.executemany("INSERT INTO posts VALUES (?, ?, ?, ?, ?)", POSTS)
            conn.execute("INSERT INTO login_attempts VALUES ('192.0.2.1', 1.5)")


def rows(conn):
    return [tuple(row) for row in conn.execute("SELECT id, title, body, image, created FROM posts ORDER BY id")]


@pytest.mark.parametrize("schema", [SCHEMA_1_0_0, SCHEMA_EARLY_1_1_0], ids=["1.0.0", "early-1.1.0"])
def test_a_board_from_before_versions_is_brought_up_to_date_with_every_row(tmp_path, schema):
    path = tmp_path / "subsite.db"
    old_board(path, schema)
    with closing(sqlite3.connect(path)) as conn:
        assert migrations.state(conn) == State(0, legacy=True)
    with closing(db.connect(path)) as conn:
        assert migrations.state(conn).version == LATEST
        assert rows(conn) == POSTS
        assert [tuple(row) for row in conn.execute("SELECT address, at FROM login_attempts")] == [("192.0.2.1", 1.5)]
        recorded = conn.execute("SELECT version, description, additive FROM schema_migrations").fetchall()
        assert [tuple(row) for row in recorded] == [(m.number, m.description, 1) for m in MIGRATIONS]
        assert {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")} >= {
            "login_attempts_address", "login_attempts_at"}
        # The app goes on from there: the next post gets the next id.
        new = conn.execute("INSERT INTO posts (title, body) VALUES ('new', 'x') RETURNING id").fetchone()[0]
        assert new == 8


def test_an_up_to_date_database_is_not_touched(backend_database):
    with closing(db.connect(backend_database)) as conn:
        before, after, applied = migrations.migrate(conn, "here")
    assert (before.version, after, applied) == (LATEST, LATEST, [])


# A migration that fails after its first statement: the table it made must not stay.
BROKEN = Migration(LATEST + 1, "a table, then a mistake",
                   sqlite=("CREATE TABLE IF NOT EXISTS extra (x INTEGER)", "INSERT INTO no_such_table VALUES (1)"),
                   postgres=("CREATE TABLE IF NOT EXISTS extra (x INTEGER)", "INSERT INTO no_such_table VALUES (1)"))
FIXED = BROKEN._replace(sqlite=BROKEN.sqlite[:1], postgres=BROKEN.postgres[:1], description="a table")


def test_a_migration_that_fails_half_way_leaves_nothing_and_runs_again(backend_database):
    with closing(db.connect(backend_database)) as conn:
        with pytest.raises(db.ERRORS):
            migrations.migrate(conn, "here", MIGRATIONS + (BROKEN,))
        assert migrations.state(conn).version == LATEST
        assert not migrations.has_table(conn, "extra")
        assert not conn.in_transaction
        before, after, applied = migrations.migrate(conn, "here", MIGRATIONS + (FIXED,))
        assert (before.version, after, applied) == (LATEST, LATEST + 1, [(FIXED.number, FIXED.description)])
        assert migrations.has_table(conn, "extra")


def test_a_half_run_from_before_versions_is_completed(tmp_path):
    """Tables a migration makes may exist without its record (made by hand, or by an early 1.1.0): kept."""
    path = tmp_path / "subsite.db"
    old_board(path, SCHEMA_1_0_0 + "CREATE TABLE board_generation (id INTEGER PRIMARY KEY, value TEXT NOT NULL);"
                                   "INSERT INTO board_generation VALUES (1, 'kept');")
    with closing(db.connect(path)) as conn:
        assert migrations.state(conn).version == LATEST
        assert conn.execute("SELECT value FROM board_generation").fetchone()[0] == "kept"


SLOW = Migration(LATEST + 1, "slow", sqlite=("CREATE TABLE slow (x INTEGER)", "SELECT sleep(0.3)"),
                 postgres=("CREATE TABLE slow (x INTEGER)", "SELECT pg_sleep(0.3)"))


def test_two_migrators_at_once_apply_each_migration_once(backend_database):
    """Two hosts (or workers) starting together: one applies, the other waits for its lock and finds it done."""
    with closing(db.connect(backend_database)):
        pass
    start = threading.Barrier(2)
    results, errors = [], []

    def migrator():
        try:
            if postgres.is_url(backend_database):
                conn = postgres.connect(backend_database)
            else:
                conn = sqlite3.connect(backend_database, timeout=5.0)
                conn.create_function("sleep", 1, time.sleep)
            with closing(conn):
                start.wait()
                results.append(migrations.migrate(conn, "here", MIGRATIONS + (SLOW,))[2])
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=migrator) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(results) == [[], [(SLOW.number, SLOW.description)]]


def test_postgresql_is_migrated_from_nothing(empty_pg_url):
    with closing(postgres.connect(empty_pg_url)) as conn:
        assert migrations.state(conn) == State(0)
        before, after, applied = migrations.migrate(conn, "here")
        assert (before.version, after) == (0, LATEST)
        assert [number for number, _ in applied] == [m.number for m in MIGRATIONS]


# The rule a rolling upgrade depends on (migrations.problem).

@pytest.mark.parametrize(("found", "migrates_itself", "refused"), [
    (State(LATEST), False, None),
    (State(LATEST - 1), False,
     f"is at schema version {LATEST - 1} and this release of subsite needs version {LATEST}: run 'subsite migrate'"),
    (State(0), False, "run 'subsite migrate'"),
    (State(LATEST - 1), True, None),                     # SQLite: the caller migrates it
    (State(LATEST + 2, ((LATEST + 1, "a table", True), (LATEST + 2, "an index", True))), False, None),
    (State(LATEST + 2, ((LATEST + 1, "a table", True), (LATEST + 2, "drop a column", False))), False,
     f"its migration {LATEST + 2} (drop a column) cannot be used by this release (which knows versions up to {LATEST}): "
     "upgrade"),
    (State(LATEST + 1, ((LATEST + 1, "rename", False),)), True, "upgrade subsite on this host"),
])
def test_which_databases_a_release_may_use(found, migrates_itself, refused):
    problem = migrations.problem(found, "postgresql://db/subsite", migrates_itself)
    if refused is None:
        assert problem is None
    else:
        assert isinstance(problem, SchemaError) and refused in str(problem)
        assert "postgresql://db/subsite" in str(problem)


def record(url, number, additive):
    """Record a migration of a newer release, as that release's `subsite migrate` would."""
    with closing(postgres.connect(url)) as conn, conn:
        conn.execute("INSERT INTO schema_migrations VALUES (?, 'from a newer release', ?, 'now')", (number, additive))


def test_an_older_release_keeps_serving_a_database_a_newer_one_migrated_additively(pg_url, make_client):
    record(pg_url, LATEST + 1, 1)
    client = make_client(DATABASE=pg_url)
    assert client.get("/_health").status_code == 200
    assert client.get("/").status_code == 200


def test_an_older_release_refuses_a_database_a_newer_one_changed(pg_url, make_client):
    record(pg_url, LATEST + 1, 1)
    record(pg_url, LATEST + 2, 0)
    answer = make_client(DATABASE=pg_url).get("/_health")
    assert answer.status_code == 503
    assert "upgrade subsite on this host" in answer.json["database"]


def test_a_newer_release_refuses_a_postgresql_database_not_yet_migrated(pg_url, make_client):
    with closing(postgres.connect(pg_url)) as conn, conn:
        conn.execute("DELETE FROM schema_migrations WHERE version = ?", (LATEST,))
    answer = make_client(DATABASE=pg_url).get("/_health")
    assert answer.status_code == 503
    assert "run 'subsite migrate'" in answer.json["database"]
    assert "?host=" not in answer.json["database"], "the URL's query (a passfile's name) is not shown"
