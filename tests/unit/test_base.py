import logging

import pytest
from flask import Flask

from subsite import layout, settings
from subsite.base import make_flask, read_secret_key, relative_location


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
