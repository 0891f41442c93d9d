"""`subsite check`'s checks of the database and the images' store, against real SQLite files and a real PostgreSQL."""

import os
import pwd
import tempfile
from contextlib import closing
from pathlib import Path

import pytest

from test_migrations import SCHEMA_1_0_0, old_board
from subsite import db, layout, postgres, settings
from subsite.cli.check import Checklist
from subsite.cli.checkdata import check_data, store_checks
from subsite.migrations import LATEST


@pytest.fixture
def run_checks(tmp_path, monkeypatch, capsys):
    """Run the checks of ``database`` (uploads in the test's directory); return (failed, printed lines)."""
    monkeypatch.setattr(layout, "WEB_USER", pwd.getpwuid(os.geteuid()).pw_name)
    uploads = tmp_path / "uploads"
    uploads.mkdir()

    def run(database, uploads=uploads):
        checks = Checklist()
        check_data(checks, settings.Settings(database=database, uploads=uploads))
        return checks.failed, capsys.readouterr().out.splitlines()

    return run


def line(lines, start):
    """The one line that starts with ``start``."""
    found = [text for text in lines if text.startswith(start)]
    assert len(found) == 1, lines
    return found[0]


def test_sqlite_at_this_release_passes_and_says_the_images_stay_here(run_checks, tmp_path):
    path = tmp_path / "subsite.db"
    db.connect(str(path)).close()
    failed, lines = run_checks(str(path))
    assert failed == 0, lines
    assert f"(SQLite {path})" in line(lines, "[ OK ] database reachable as")
    assert line(lines, "[ OK ] database schema") == f"[ OK ] database schema at version {LATEST} (this release's)"
    assert line(lines, "[ OK ] uploads directory")
    assert "on this host only" in line(lines, "[ OK ] images")


def test_sqlite_not_made_yet_is_no_failure(run_checks, tmp_path):
    failed, lines = run_checks(str(tmp_path / "none.db"))
    assert failed == 0 and "not made yet" in line(lines, "[ OK ] database")
    assert not (tmp_path / "none.db").exists()


def test_an_sqlite_board_from_1_0_0_is_migrated_by_the_app_itself(run_checks, tmp_path):
    path = tmp_path / "old.db"
    old_board(path, SCHEMA_1_0_0)
    failed, lines = run_checks(str(path))
    assert failed == 0
    assert "the app applies 1 (posts" in line(lines, "[ OK ] database schema at version 0")


def test_an_sqlite_file_that_is_no_database_fails(run_checks, tmp_path):
    path = tmp_path / "subsite.db"
    path.write_bytes(b"not a database" * 100)
    failed, lines = run_checks(str(path))
    assert failed == 1
    assert f"cannot use the database {path}" in line(lines, "[FAIL] database reachable")
    assert "Try fixing it:" in lines[lines.index(line(lines, "[FAIL]")) + 1]


def test_postgresql_at_this_release_counts_its_images(run_checks, pg_url):
    failed, lines = run_checks(pg_url)
    assert failed == 0, lines
    assert "(PostgreSQL postgresql:///postgres)" in line(lines, "[ OK ] database reachable as")
    assert "?host" not in "\n".join(lines)
    assert "holds 0 images" in line(lines, "[ OK ] images shared through postgresql:///postgres")
    with closing(postgres.connect(pg_url)) as conn, conn:
        conn.execute("INSERT INTO uploads (name, data) VALUES ('a.png', ?)", (b"x",))
    assert "holds 1 images" in line(run_checks(pg_url)[1], "[ OK ] images")


def test_unreachable_postgresql_fails_with_what_to_do(run_checks, tmp_path):
    passfile = tmp_path / "pgpass"
    passfile.write_text("*:*:*:subsite:secret\n")
    passfile.chmod(0o644)
    url = f"postgresql://subsite@/subsite?host={tmp_path}&passfile={passfile}"
    failed, lines = run_checks(url)
    assert failed == 1, lines
    problem = line(lines, "[FAIL] database reachable as")
    assert "cannot use the database postgresql://subsite@/subsite" in problem
    assert f"libpq ignores the passfile {passfile}" in problem
    assert "start PostgreSQL" in lines[lines.index(problem) + 1]
    assert "the database check above failed" in line(lines, "[SKIP] images shared")
    assert "secret" not in "\n".join(lines)


def test_postgresql_with_pending_migrations_fails_and_names_subsite_migrate(run_checks, empty_pg_url):
    failed, lines = run_checks(empty_pg_url)
    assert failed == 1, lines
    problem = line(lines, "[FAIL] database schema at version 0")
    assert f"needs version {LATEST}; pending: 1 (posts" in problem
    assert "subsite migrate" in lines[lines.index(problem) + 1]
    assert line(lines, "[SKIP] images shared")


@pytest.mark.parametrize(("additive", "failed", "said"), [
    (1, 0, f"[ OK ] database schema at version {LATEST + 1} (newer than this release's {LATEST}; its later "
           f"migrations are additive, so it is usable: {LATEST + 1} (an index))"),
    (0, 1, f"[FAIL] database schema at version {LATEST + 1}: the database postgresql:///postgres was migrated "
           "by a newer release"),
], ids=["additive", "not-additive"])
def test_a_schema_a_newer_release_migrated(run_checks, pg_url, additive, failed, said):
    with closing(postgres.connect(pg_url)) as conn, conn:
        conn.execute("INSERT INTO schema_migrations VALUES (?, 'an index', ?, 'now')", (LATEST + 1, additive))
    found, lines = run_checks(pg_url)
    assert found == failed and line(lines, said[:40]).startswith(said), lines


def test_a_missing_uploads_directory_fails(run_checks, tmp_path):
    failed, lines = run_checks(str(tmp_path / "subsite.db"), uploads=tmp_path / "none")
    problem = line(lines, "[FAIL] uploads directory")
    assert failed == 1 and f"{tmp_path / 'none'}: No such file or directory" in problem


@pytest.mark.skipif(os.geteuid() != 0, reason="becoming another user needs root")
def test_an_uploads_directory_the_app_may_not_write_to_fails(monkeypatch, capsys):
    folder = Path(tempfile.mkdtemp(prefix="subsite-uploads-"))       # /tmp's, so that nobody may reach it
    try:
        folder.chmod(0o755)
        monkeypatch.setattr(layout, "WEB_USER", "nobody")
        checks = Checklist()
        store_checks(checks, str(folder), "/var/lib/subsite/subsite.db", usable=True)
    finally:
        folder.rmdir()
    assert checks.failed == 1
    assert f"[FAIL] uploads directory {folder} writable by nobody: nobody may not write to {folder}" in \
        capsys.readouterr().out


def test_a_refused_database_line_is_named_with_its_file_and_line(tmp_path, capsys):
    path = tmp_path / "subsite.ini"
    with pytest.raises(settings.SettingsError) as refused:
        settings.parse("[subsite]\nprefix = /s\ndatabase = postgresql://subsite:secret@db/subsite\n", path)
    checks = Checklist()
    check_data(checks, None, refused.value)
    out = capsys.readouterr().out
    assert checks.failed == 1 and f"[FAIL] database setting: {path}:3: database = 'postgresql://subsite@db/" in out
    assert "secret" not in out and "Try fixing it: write that line as database = " in out


def test_other_settings_errors_skip_the_data_checks(capsys):
    checks = Checklist()
    check_data(checks, None, settings.SettingsError("subsite.ini", 2, "prefix is refused"))
    assert checks.failed == 0 and "[SKIP] database and images" in capsys.readouterr().out
