"""`subsite password`: the password is set, every admin session ended, even without the app's database."""

import io
import os
import pwd
import sqlite3
import time

import pytest
from werkzeug.security import check_password_hash

from support import csrf_token
from subsite import db, generation, layout
from subsite.cli import main
from subsite.settings import Rate


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """Settings naming a database under tmp_path; the web user is this test's user."""
    data = tmp_path / "data"
    data.mkdir()
    settings_file = tmp_path / "subsite.ini"
    settings_file.write_text(f"[subsite]\nprefix = /subsite\ndatabase = {data / 'subsite.db'}\n")
    monkeypatch.setattr(layout, "SETTINGS_FILE", settings_file)
    monkeypatch.setattr(layout, "PASSWORD_FILE", tmp_path / "admin-password")
    monkeypatch.setattr(layout, "WEB_USER", pwd.getpwuid(os.geteuid()).pw_name)
    return data / "subsite.db"


def set_password(monkeypatch, password="a new password"):
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    return main(["password"])


def password_is(password):
    return check_password_hash(layout.PASSWORD_FILE.read_text().strip(), password)


def test_password_ends_every_session_and_forgets_failed_logins(installed, monkeypatch, capsys):
    conn = db.connect(installed)
    before = generation.start(conn)
    with conn:
        conn.executemany("INSERT INTO login_attempts (address, at) VALUES (?, ?)",
                         [("192.0.2.1", time.time()), ("2001:db8::/64", time.time())])
    assert set_password(monkeypatch) == 0
    assert password_is("a new password")
    assert generation.current(conn) not in (None, before)
    assert conn.execute("SELECT count(*) FROM login_attempts").fetchone()[0] == 0
    out = capsys.readouterr()
    assert "Every admin session is logged out and the failed logins are forgotten." in out.out and out.err == ""


@pytest.mark.parametrize("prefix", ["/subsite"])   # slow (two real scrypt hashes): one prefix will do
def test_password_lets_a_locked_out_admin_in(installed, monkeypatch, make_client, tmp_path):
    monkeypatch.setattr(layout, "PASSWORD_FILE", tmp_path / "admin-password")
    client = make_client(DATABASE=str(installed), PASSWORD_FILE=str(tmp_path / "admin-password"),
                         LOGIN_ATTEMPTS=Rate(2, 300), LOGIN_ATTEMPTS_TOTAL=Rate(2, 300))
    assert set_password(monkeypatch, "the first password") == 0

    def login(password):
        page = client.get("/admin/login", environ_overrides={"REMOTE_ADDR": "198.51.100.7"})
        return client.post("/admin/login", data={"password": password, "csrf_token": csrf_token(page.text)},
                           environ_overrides={"REMOTE_ADDR": "198.51.100.7"}).status_code

    assert [login("wrong"), login("wrong"), login("the first password")] == [200, 200, 429]
    assert set_password(monkeypatch, "the second password") == 0
    assert login("the second password") == 303


def test_password_without_a_database_yet(installed, monkeypatch, capsys):
    assert set_password(monkeypatch) == 0
    assert password_is("a new password")
    assert not installed.exists()   # not created by root's command
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("problem", ["not a database", "no settings"])
def test_password_is_set_when_the_database_step_fails(installed, monkeypatch, capsys, problem):
    if problem == "not a database":
        installed.write_bytes(b"this is not SQLite" * 100)
    else:
        layout.SETTINGS_FILE.unlink()
    assert set_password(monkeypatch) == 0
    assert password_is("a new password")
    err = capsys.readouterr().err
    assert err.startswith("subsite: warning: the password is set, but the admin sessions and failed logins in the "
                          "app's database could not be cleared: ")
    assert ("DatabaseError" if problem == "not a database" else "the file is missing") in err
    assert "run 'subsite password' again" in err


def test_the_step_runs_as_the_web_user(installed, monkeypatch):
    users = []

    def run_as(user, function, *args, **kwargs):
        users.append(user)
        return function(*args, **kwargs)

    monkeypatch.setattr("subsite.privileges.run_as", run_as)
    db.connect(installed)
    assert set_password(monkeypatch) == 0
    assert users == [layout.WEB_USER]


def test_a_short_password_changes_nothing(installed, monkeypatch, capsys):
    conn = db.connect(installed)
    before = generation.start(conn)
    assert set_password(monkeypatch, "short") == 1
    assert not layout.PASSWORD_FILE.exists() and generation.current(conn) == before


def test_an_old_database_gets_the_table(installed, monkeypatch):
    conn = sqlite3.connect(installed)
    conn.execute("CREATE TABLE posts (id INTEGER PRIMARY KEY, title TEXT NOT NULL, body TEXT NOT NULL)")
    conn.commit()
    assert set_password(monkeypatch) == 0
    assert generation.current(conn) is not None
