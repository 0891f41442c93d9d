import os
import stat
from urllib.parse import parse_qs, urlsplit

import pytest
from werkzeug.security import check_password_hash

from support import PASSWORD, AuthActions, MountedClient, csrf_token, emitted_urls
from subsite import db, generation
from subsite.auth import safe_next, set_password


def test_set_password_writes_a_scrypt_hash(tmp_path):
    path = tmp_path / "admin-password"
    set_password(path, "s3cret password")
    text = path.read_text()
    assert text.startswith("scrypt:") and text.endswith("\n") and text.count("\n") == 1
    assert check_password_hash(text.strip(), "s3cret password")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_set_password_replaces_atomically(tmp_path):
    path = tmp_path / "admin-password"
    set_password(path, "first one")
    before = path.stat().st_ino
    set_password(path, "second one")
    assert path.stat().st_ino != before  # a new file renamed over the old one
    assert check_password_hash(path.read_text().strip(), "second one")
    assert [p.name for p in tmp_path.iterdir()] == ["admin-password"]  # no temp file left


def test_set_password_group(tmp_path):
    path = tmp_path / "admin-password"
    set_password(path, "with a group", group=os.getgid())
    assert path.stat().st_gid == os.getgid()


def test_set_password_refuses_empty(tmp_path):
    with pytest.raises(ValueError):
        set_password(tmp_path / "admin-password", "")
    assert not (tmp_path / "admin-password").exists()


def test_login_page(client, prefix):
    response = client.get("/admin/login")
    assert response.status_code == 200
    assert csrf_token(response.text)
    assert ("form", "action", f"{prefix}/admin/login") in emitted_urls(response.text)
    for _, _, url in emitted_urls(response.text):
        assert url.startswith(prefix + "/")


def test_login_redirects_to_admin_index(client, auth, prefix):
    response = auth.login()
    assert response.status_code == 303
    assert response.location == f"{prefix}/admin/"
    assert client.get("/admin/").status_code == 200


def test_wrong_password(client, auth):
    response = auth.login(password="wrong")
    assert response.status_code == 200
    assert "Wrong password." in response.text
    assert csrf_token(response.text)  # the form is shown again
    assert client.get("/admin/").status_code == 303


def test_no_password_set(make_client, tmp_path):
    client = make_client(PASSWORD_FILE=str(tmp_path / "nothing-here"))
    page = client.get("/admin/login")
    assert "No admin password is set. On the server run: sudo subsite password" in page.text
    assert client.get("/admin/").status_code == 303


@pytest.mark.parametrize("path", ["/admin/", "/admin/posts/new", "/admin/diagnostics?format=json", "/admin/api/csrf"])
def test_login_required_carries_next_with_prefix(client, auth, prefix, path):
    response = client.get(path)
    assert response.status_code in (302, 303)
    location = urlsplit(response.location)
    assert location.path == f"{prefix}/admin/login"
    assert parse_qs(location.query)["next"] == [prefix + path]
    # The login form carries next on, and logging in returns there.
    page = client.get(client.under_prefix(response.location))
    assert f'value="{prefix}{path}"' in page.text
    back = auth.login(next=prefix + path)
    assert back.status_code == 303
    assert back.location == prefix + path
    assert client.get(path).status_code == 200


def test_login_required_after_a_post_goes_to_index(client, prefix):
    token = csrf_token(client.get("/admin/login").text)
    response = client.post("/admin/posts/new", data={"csrf_token": token, "title": "t", "body": "b"})
    assert response.status_code == 303
    assert parse_qs(urlsplit(response.location).query)["next"] == [f"{prefix}/admin/"]


@pytest.mark.parametrize(
    "value",
    [
        "https://evil.test/",
        "//evil.test/",
        "///evil.test/",
        "/\\evil.test/",
        "/\t/evil.test/",
        "\\\\evil.test",
        "evil.test",
        "javascript:alert(1)",
        "http:/evil.test",
        "",
        "{prefix}/",
        "{prefix}/posts/1",
        "{prefix}/administrator",
        "{root}/../x",
        "{root}/%2e%2e/%2e%2e/x",
        "{root}/./x",
        "{root}\n/x",
    ],
)
def test_unsafe_next_is_refused(client, auth, prefix, value):
    value = value.format(prefix=prefix, root=f"{prefix}/admin")
    response = auth.login(next=value)
    assert response.status_code == 303
    assert response.location == f"{prefix}/admin/"


@pytest.mark.parametrize("value", ["{root}", "{root}/", "{root}/posts/new", "{root}/diagnostics?format=json"])
def test_safe_next_is_kept(admin, value):
    for root in ("", "/subsite", "/a/b"):
        target = value.format(root=f"{root}/admin")
        with admin.test_request_context("/login", base_url=f"http://localhost{root}/admin"):
            assert safe_next(target) == target


def test_logout(client, auth, prefix):
    auth.login()
    response = auth.logout()
    assert response.status_code == 303
    assert response.location == f"{prefix}/admin/login"
    assert client.get("/admin/").status_code == 303


def test_logout_needs_post(client, auth):
    auth.login()
    assert client.get("/admin/logout").status_code == 405


def test_new_password_logs_everyone_out(client, auth, config):
    auth.login()
    set_password(config["PASSWORD_FILE"], "a brand new password")
    assert client.get("/admin/").status_code == 303
    assert auth.login(password=PASSWORD).status_code == 200  # old password is wrong now
    assert auth.login(password="a brand new password").status_code == 303


def copy_of_the_login(client, app, prefix):
    """Return another client holding the same admin cookie, as a thief would."""
    cookie = client.get_cookie("subsite_admin", path=f"{prefix}/admin")
    thief = MountedClient(app, prefix)
    thief.set_cookie("subsite_admin", cookie.value, path=f"{prefix}/admin")
    return thief


def test_logout_ends_a_copied_session(client, auth, app, prefix):
    auth.login()
    thief = copy_of_the_login(client, app, prefix)
    assert thief.get("/admin/").status_code == 200
    auth.logout()
    assert thief.get("/admin/").status_code == 303
    assert thief.get("/admin/api/csrf").status_code == 303


def test_logout_ends_every_session(client, auth, app, prefix):
    other = MountedClient(app, prefix)
    AuthActions(other).login()
    auth.login()
    auth.logout()
    assert other.get("/admin/").status_code == 303
    # A new login is a new session again.
    assert AuthActions(other).login().status_code == 303
    assert other.get("/admin/").status_code == 200


def test_logout_ends_the_session_in_every_worker(make_client, config, prefix):
    # Two apps on one database stand for two uWSGI workers (or two hosts).
    first, second = make_client(), make_client()
    AuthActions(first).login()
    cookie = first.get_cookie("subsite_admin", path=f"{prefix}/admin")
    second.set_cookie("subsite_admin", cookie.value, path=f"{prefix}/admin")
    assert second.get("/admin/").status_code == 200
    AuthActions(first).logout()
    assert second.get("/admin/").status_code == 303


def test_a_visitor_cannot_log_the_admin_out(client, auth, app, prefix):
    auth.login()
    visitor = MountedClient(app, prefix)
    token = csrf_token(visitor.get("/admin/login").text)
    assert visitor.post("/admin/logout", data={"csrf_token": token}).status_code == 303
    assert client.get("/admin/").status_code == 200


def test_a_session_from_before_generations_is_logged_out(client, auth, admin):
    # Signed by an older release: the password stamp alone no longer logs in.
    auth.login()
    with admin.test_request_context():
        interface = admin.session_interface
        serializer = interface.get_signing_serializer(admin)
        cookie = client.get_cookie("subsite_admin", path=client.prefix + "/admin")
        data = serializer.loads(cookie.value)
        del data["generation"]
        client.set_cookie("subsite_admin", serializer.dumps(data), path=client.prefix + "/admin")
    assert client.get("/admin/").status_code == 303


def test_one_query_per_admin_request(client, auth, config):
    auth.login()
    statements = []
    # The test client runs the app in this thread, on this thread's connection.
    db.connection(config["DATABASE"]).set_trace_callback(statements.append)
    try:
        assert client.get("/admin/posts/new").status_code == 200
    finally:
        db.connection(config["DATABASE"]).set_trace_callback(None)
    assert [s for s in statements if "session_generation" in s] == [
        "SELECT value FROM session_generation WHERE id = 1"]


def test_anonymous_requests_do_not_ask_the_database(client, config):
    statements = []
    db.connection(config["DATABASE"]).set_trace_callback(statements.append)
    try:
        client.get("/admin/login")
        client.get("/admin/")
    finally:
        db.connection(config["DATABASE"]).set_trace_callback(None)
    assert not [s for s in statements if "session_generation" in s]


def test_generations(tmp_path):
    conn = db.connect(tmp_path / "subsite.db")
    assert generation.current(conn) is None
    first = generation.start(conn)
    assert generation.start(conn) == first == generation.current(conn)
    generation.end_all(conn)
    second = generation.current(conn)
    assert second not in (None, first)
    assert generation.start(conn) == second
