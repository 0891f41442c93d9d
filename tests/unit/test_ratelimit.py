"""Failed logins are limited per client address, across processes (SQLite)."""

import sqlite3

import pytest

from support import PASSWORD, csrf_token
from subsite import ratelimit
from subsite.settings import Rate


@pytest.fixture
def limited(make_client):
    """A client of an app allowing 3 failed logins per 60 s."""
    return make_client(LOGIN_ATTEMPTS=Rate(3, 60))


def login(client, password, address="127.0.0.1"):
    page = client.get("/admin/login", environ_overrides={"REMOTE_ADDR": address})
    data = {"password": password, "csrf_token": csrf_token(page.text)}
    return client.post("/admin/login", data=data, environ_overrides={"REMOTE_ADDR": address})


def test_blocked_after_the_limit_with_retry_after(limited):
    assert [login(limited, "wrong").status_code for _ in range(3)] == [200, 200, 200]
    blocked = login(limited, "wrong")
    assert blocked.status_code == 429
    assert 1 <= int(blocked.headers["Retry-After"]) <= 60
    assert "Too many failed logins" in blocked.text
    # Even the right password waits: the check comes before the password.
    assert login(limited, PASSWORD).status_code == 429
    assert limited.get("/admin/").status_code == 303


def test_limit_is_per_address(limited):
    for _ in range(4):
        login(limited, "wrong", "192.0.2.1")
    assert login(limited, "wrong", "192.0.2.1").status_code == 429
    assert login(limited, PASSWORD, "192.0.2.2").status_code == 303


def test_success_forgets_the_failures(limited):
    for _ in range(2):
        login(limited, "wrong")
    assert login(limited, PASSWORD).status_code == 303
    assert [login(limited, "wrong").status_code for _ in range(3)] == [200, 200, 200]


def test_state_is_in_the_database_shared_by_workers(make_client, config):
    # Two apps on one database stand for two uWSGI worker processes.
    first, second = (make_client(LOGIN_ATTEMPTS=Rate(2, 60)) for _ in range(2))
    login(first, "wrong")
    login(second, "wrong")
    assert login(first, "wrong").status_code == 429
    rows = sqlite3.connect(config["DATABASE"]).execute("SELECT count(*) FROM login_attempts").fetchone()
    assert rows == (2,)


def test_window_expires(frontend, config):
    frontend.config["LOGIN_ATTEMPTS"] = Rate(2, 10)
    with frontend.app_context():
        assert ratelimit.attempt("a", now=100) == 0
        assert ratelimit.attempt("a", now=101) == 0
        assert ratelimit.attempt("a", now=105) == 5     # the first attempt ages out at 110
        assert ratelimit.attempt("b", now=105) == 0     # another address is not affected
        assert ratelimit.attempt("a", now=110) == 0     # 100 is out of the window
        assert ratelimit.attempt("a", now=111) == 0     # 101 too
        assert ratelimit.attempt("a", now=112) == 8


def test_off_allows_everything(make_client):
    client = make_client(LOGIN_ATTEMPTS=Rate(0, 1))
    assert {login(client, "wrong").status_code for _ in range(8)} == {200}


def test_default_is_five_per_five_minutes(client):
    codes = [login(client, "wrong").status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]
