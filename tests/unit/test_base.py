import logging
import re

import pytest
from flask import Flask, url_for

from subsite import base, db, layout, settings
from subsite.base import PACKAGE_DIR, make_flask, read_secret_key, relative_location, security_headers


@pytest.fixture
def secret_file(tmp_path, monkeypatch):
    path = tmp_path / "secret-key"
    path.write_text("  secret from file \n")
    monkeypatch.setattr(layout, "SECRET_KEY_FILE", path)
    return path


def test_defaults_come_from_settings_and_layout(secret_file):
    app = make_flask("subsite.test", cookie_name="c")
    defaults = settings.Settings()
    assert app.config["DATABASE"] == str(defaults.database)
    assert app.config["UPLOADS_DIR"] == str(defaults.uploads)
    assert app.config["TRUSTED_PROXIES"] == defaults.trusted_proxies == 0
    assert app.config["PASSWORD_FILE"] == str(layout.PASSWORD_FILE)
    assert app.config["MAX_CONTENT_LENGTH"] == layout.MAX_UPLOAD_BYTES == 8 * 1024 * 1024
    assert app.config["SECRET_KEY"] == "secret from file"


def test_test_config_overrides(tmp_path):
    app = make_flask("subsite.test", {"SECRET_KEY": "given", "DATABASE": "/x.db"}, cookie_name="c")
    assert (app.config["SECRET_KEY"], app.config["DATABASE"]) == ("given", "/x.db")


def test_secret_key_file_from_config(tmp_path):
    path = tmp_path / "other-key"
    path.write_text("other\n")
    app = make_flask("subsite.test", {"SECRET_KEY_FILE": str(path)}, cookie_name="c")
    assert app.config["SECRET_KEY"] == "other"


@pytest.mark.parametrize("content", [None, "", "\n"])
def test_unusable_secret_key_is_an_error(tmp_path, content):
    path = tmp_path / "secret-key"
    if content is not None:
        path.write_text(content)
    with pytest.raises(RuntimeError, match=str(path)):
        read_secret_key(path)


def test_apps_share_templates_and_static(frontend, admin):
    for app in (frontend, admin):
        assert app.template_folder == "templates"
        assert app.static_folder == frontend.static_folder
        assert app.static_url_path == "/static"
        assert app.jinja_env.autoescape("page.html")
    assert frontend.jinja_loader.searchpath == admin.jinja_loader.searchpath


def test_per_app_loggers(frontend, admin):
    assert frontend.logger.name == "subsite.frontend"
    assert admin.logger.name == "subsite.admin"
    assert frontend.logger.getEffectiveLevel() == logging.INFO


def test_sessions_have_distinct_cookie_names(frontend, admin):
    assert frontend.session_interface.get_cookie_name(frontend) == "subsite_front"
    assert admin.session_interface.get_cookie_name(admin) == "subsite_admin"


@pytest.mark.parametrize(
    "host, location, expected",
    [
        ("localhost", "http://localhost/p/dir/", "/p/dir/"),
        ("localhost", "http://LOCALHOST/p/dir/?a=1#f", "/p/dir/?a=1#f"),
        ("evil.test", "http://evil.test/p/dir/", "/p/dir/"),
        ("localhost:8080", "http://localhost:8080/x", "/x"),
        ("localhost", "http://localhost//evil.test/x", "/evil.test/x"),
        ("localhost", "http://localhost/\\evil.test/x", "/evil.test/x"),
        ("localhost", "http://localhost", "/"),
        ("localhost", "https://localhost/x", "https://localhost/x"),  # another origin: left alone
        ("localhost", "http://elsewhere.example/x", "http://elsewhere.example/x"),
        ("localhost", "/already/relative", "/already/relative"),
    ],
)
def test_relative_location(host, location, expected):
    app = Flask(__name__)
    with app.test_request_context("/", headers={"Host": host}):
        response = app.make_response(("", 302, {"Location": location}))
        assert relative_location(response).headers["Location"] == expected


def test_redirect_body_has_no_host():
    app = Flask(__name__)
    with app.test_request_context("/", headers={"Host": "evil.test"}):
        response = app.make_response(("<a href='http://evil.test/x'>", 308, {"Location": "http://evil.test/x"}))
        relative_location(response)
        assert b"evil.test" not in response.get_data()
        assert b'href="/x"' in response.get_data()


def test_nosniff(client):
    assert client.get("/").headers["X-Content-Type-Options"] == "nosniff"


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; img-src 'self'; object-src 'none'; base-uri 'none'; "
                               "form-action 'self'; frame-ancestors 'none'",
}


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/", 200),
        ("GET", "/posts/{post}", 200),
        ("GET", "/posts/99", 404),
        ("GET", "/dir", 308),
        ("GET", "/api/posts", 200),
        ("GET", "/api/posts/99", 404),
        ("POST", "/", 405),
        ("GET", "/static/style.css", 200),
        ("GET", "/uploads/{image}", 200),
        ("GET", "/boom", 500),
        ("GET", "/_health", 200),
        ("HEAD", "/_health", 200),
        ("POST", "/_health", 405),
        ("GET", "/admin", 308),
        ("GET", "/admin/", 303),
        ("GET", "/admin/login", 200),
        ("POST", "/admin/login", 400),
        ("GET", "/admin/nothing", 404),
        ("GET", "/admin/api/csrf", 303),
        ("POST", "/admin/api/posts", 400),
    ],
)
def test_security_headers_on_every_answer(client, frontend, add_post, prefix, method, path, status):
    frontend.add_url_rule("/boom", "boom", lambda: 1 / 0)
    post = add_post(image=b"\x89PNG\r\n\x1a\n")
    with frontend.app_context():
        image = db.get_post(post)["image"]
    response = client.open(path.format(post=post, image=image), method=method)
    assert response.status_code == status
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get_all(name) == [value], name


def test_security_headers_set_by_a_page_are_kept(frontend):
    with frontend.test_request_context("/"):
        response = frontend.make_response(("", {"x-frame-options": "SAMEORIGIN"}))
        security_headers(response)
    assert response.headers.get_all("X-Frame-Options") == ["SAMEORIGIN"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_security_headers_when_logged_in(client, auth):
    auth.login()
    for path in ("/admin/", "/admin/posts/new", "/admin/diagnostics", "/admin/diagnostics?format=json",
                 "/admin/api/csrf", "/admin/posts/99/edit"):
        response = client.get(path)
        assert response.status_code in (200, 404), path
        for name, value in SECURITY_HEADERS.items():
            assert response.headers.get(name) == value, (path, name)
    assert auth.logout().headers["X-Frame-Options"] == "DENY"


def test_health_error_has_security_headers(make_client, tmp_path):
    response = make_client(DATABASE=str(tmp_path / "missing" / "subsite.db")).get("/_health")
    assert response.status_code == 503
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, name


# Markup the policy would block: inline script (a script without src), inline
# style, event handlers, javascript: URLs.
INLINE = re.compile(r"<script(?![^>]*\ssrc=)|<style|\sstyle\s*=|\son[a-z]+\s*=|javascript:", re.IGNORECASE)


@pytest.mark.parametrize("template", sorted(p.relative_to(PACKAGE_DIR / "templates").as_posix()
                                            for p in (PACKAGE_DIR / "templates").rglob("*.html")))
def test_templates_need_no_inline_script_or_style(template):
    text = (PACKAGE_DIR / "templates" / template).read_text()
    assert not INLINE.search(text), INLINE.search(text)


def test_urls_are_kept_per_script_root(frontend):
    for root in ("", "/subsite", "/a-b", "/subsite"):
        with frontend.test_request_context("/", base_url=f"http://localhost{root}/"):
            assert url_for("post", post_id=7) == f"{root}/posts/7"
            assert frontend.url_for("index", before=3) == f"{root}/?before=3"


def test_urls_with_options_or_other_values_are_built_every_time(frontend):
    for host in ("one.test", "two.test"):
        with frontend.test_request_context("/", base_url=f"http://{host}/subsite/"):
            assert url_for("index", _external=True) == f"http://{host}/subsite/"
            assert url_for("index", _anchor="x") == "/subsite/#x"
    with frontend.test_request_context("/", base_url="http://localhost/subsite/"):
        # Equal values that do not give the same URL are not taken for one another.
        assert url_for("index", before=1) == "/subsite/?before=1"
        assert url_for("index", before=True) == "/subsite/?before=True"
        assert url_for("index", before=1.0) == "/subsite/?before=1.0"
        assert url_for("index", before=[1, 2]) == "/subsite/?before=1&before=2"


def test_kept_urls_are_bounded(frontend, monkeypatch):
    monkeypatch.setattr(base, "URLS_KEPT", 3)
    with frontend.test_request_context("/", base_url="http://localhost/subsite/"):
        for post_id in range(10):
            assert url_for("post", post_id=post_id) == f"/subsite/posts/{post_id}"
            assert len(frontend.urls) <= 3
