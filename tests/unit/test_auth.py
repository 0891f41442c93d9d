import os
import stat
from urllib.parse import parse_qs, urlsplit

import pytest
from werkzeug.security import check_password_hash

from support import PASSWORD, csrf_token, emitted_urls
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
