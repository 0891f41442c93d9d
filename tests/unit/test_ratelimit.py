"""Failed logins are limited per client (IPv4 address, IPv6 /64) and in total, across processes (SQLite, PostgreSQL)."""

import os
import threading
from contextlib import closing

import pytest

from support import PASSWORD, csrf_token
from subsite import db, ratelimit
from subsite.frontend import create_frontend
from subsite.settings import Rate


@pytest.fixture
def both_frontend(on_backend):
    """The frontend on each backend in turn."""
    return create_frontend(on_backend)


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


def test_state_is_in_the_database_shared_by_workers(make_client, backend_database):
    # Two apps on one database stand for two uWSGI worker processes (or two hosts on one PostgreSQL).
    first, second = (make_client(LOGIN_ATTEMPTS=Rate(2, 60), DATABASE=backend_database) for _ in range(2))
    login(first, "wrong")
    login(second, "wrong")
    assert login(first, "wrong").status_code == 429
    with closing(db.connect(backend_database)) as conn:
        assert conn.execute("SELECT count(*) FROM login_attempts").fetchone()[0] == 2


def test_concurrent_attempts_cannot_pass_the_limit(on_backend):
    """Counting and recording are one locked step: of 8 attempts at once, exactly the limit's 3 pass."""
    frontend = create_frontend({**on_backend, "LOGIN_ATTEMPTS": Rate(3, 60)})
    start = threading.Barrier(8)
    outcomes = []

    def attempt():
        with frontend.app_context():
            start.wait()
            outcomes.append(ratelimit.attempt("192.0.2.1"))
        db._connections.pop((os.getpid(), threading.get_ident(), on_backend["DATABASE"]))[0].close()

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count(None) == 3 and len(outcomes) == 8


def test_window_expires(both_frontend):
    frontend = both_frontend
    frontend.config["LOGIN_ATTEMPTS"] = Rate(2, 10)
    with frontend.app_context():
        assert ratelimit.attempt("a", now=100) is None
        assert ratelimit.attempt("a", now=101) is None
        assert ratelimit.attempt("a", now=105) == (5, "client")    # the first attempt ages out at 110
        assert ratelimit.attempt("b", now=105) is None              # another address is not affected
        assert ratelimit.attempt("a", now=110) is None              # 100 is out of the window
        assert ratelimit.attempt("a", now=111) is None              # 101 too
        assert ratelimit.attempt("a", now=112) == (8, "client")


def test_total_window_expires(both_frontend):
    frontend = both_frontend
    frontend.config["LOGIN_ATTEMPTS"] = Rate(5, 10)
    frontend.config["LOGIN_ATTEMPTS_TOTAL"] = Rate(2, 20)
    with frontend.app_context():
        assert ratelimit.attempt("192.0.2.1", now=100) is None
        assert ratelimit.attempt("192.0.2.2", now=101) is None
        assert ratelimit.attempt("192.0.2.3", now=105) == (15, "total")  # 100 ages out at 120
        assert ratelimit.attempt("127.0.0.1", now=105) is None            # loopback is not refused by it
        assert ratelimit.attempt("192.0.2.3", now=115) == (6, "total")    # the loopback attempt counts: 101 ages out
        assert ratelimit.attempt("192.0.2.3", now=125) is None


@pytest.mark.parametrize(
    ("address", "key", "local"),
    [
        ("192.0.2.1", "192.0.2.1", False),
        ("::ffff:192.0.2.1", "192.0.2.1", False),
        ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64", False),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64", False),
        ("2001:DB8:1:3::1", "2001:db8:1:3::/64", False),
        ("fe80::1%eth0", "fe80::/64", False),
        ("127.0.0.1", "127.0.0.1", True),
        ("127.0.0.3", "127.0.0.3", True),
        ("::1", "::1", True),
        ("::ffff:127.0.0.1", "127.0.0.1", True),
        ("", "", False),
        ("not an address", "not an address", False),
    ],
)
def test_client_of(address, key, local):
    assert ratelimit.client_of(address) == (key, local)


def test_an_ipv6_client_is_its_slash_64(limited):
    for host in range(1, 4):
        assert login(limited, "wrong", f"2001:db8:1:2::{host}").status_code == 200
    assert login(limited, "wrong", "2001:db8:1:2:ffff:ffff:ffff:ffff").status_code == 429
    assert login(limited, PASSWORD, "2001:db8:1:3::1").status_code == 303   # the next /64 is another client


def test_ipv4_mapped_is_ipv4(limited):
    for address in ("192.0.2.1", "::ffff:192.0.2.1", "192.0.2.1"):
        assert login(limited, "wrong", address).status_code == 200
    assert login(limited, "wrong", "::ffff:192.0.2.1").status_code == 429


@pytest.fixture
def capped(make_client):
    """A client of an app allowing 5 failed logins per client and 3 in total, per 60 s."""
    return make_client(LOGIN_ATTEMPTS=Rate(5, 60), LOGIN_ATTEMPTS_TOTAL=Rate(3, 60))


def test_total_refuses_every_client_but_the_server_itself(capped, caplog):
    for network in range(1, 4):
        assert login(capped, "wrong", f"2001:db8:{network}::1").status_code == 200
    refused = login(capped, PASSWORD, "198.51.100.1")
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "Too many failed logins to this site" in refused.text and "from the server itself" in refused.text
    assert "reached login-attempts-total" in caplog.text
    # The admin on the machine itself still gets in, over IPv4 or IPv6.
    assert login(capped, "wrong", "127.0.0.1").status_code == 200
    assert login(capped, PASSWORD, "::1").status_code == 303
    assert login(capped, PASSWORD, "127.0.0.1").status_code == 303


def test_total_off(make_client):
    client = make_client(LOGIN_ATTEMPTS=Rate(5, 60), LOGIN_ATTEMPTS_TOTAL=Rate(0, 1))
    assert {login(client, "wrong", f"192.0.2.{n}").status_code for n in range(1, 20)} == {200}


def test_per_client_off_total_on(make_client):
    client = make_client(LOGIN_ATTEMPTS=Rate(0, 1), LOGIN_ATTEMPTS_TOTAL=Rate(4, 60))
    assert [login(client, "wrong", "192.0.2.1").status_code for _ in range(5)] == [200] * 4 + [429]


@pytest.mark.parametrize("prefix", ["/subsite"])   # 101 logins: one prefix will do
def test_default_total_is_a_hundred_per_five_minutes(client):
    codes = [login(client, "wrong", f"10.0.{n // 250}.{n % 250}").status_code for n in range(101)]
    assert codes == [200] * 100 + [429]


def test_off_allows_everything(make_client):
    client = make_client(LOGIN_ATTEMPTS=Rate(0, 1))
    assert {login(client, "wrong").status_code for _ in range(8)} == {200}


def test_default_is_five_per_five_minutes(client):
    codes = [login(client, "wrong").status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]
