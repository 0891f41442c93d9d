"""Fixtures: the combined app at several prefixes, a client that mounts it like uWSGI."""

import secrets
import sys
from pathlib import Path

import pytest
from werkzeug.security import generate_password_hash

from support import PASSWORD, PREFIXES, AuthActions, MountedClient
from subsite import db, layout, services, settings
from subsite.admin import create_admin
from subsite.application import make_application
from subsite.frontend import create_frontend
from subsite.settings import TRUSTED_HEADERS


@pytest.fixture(autouse=True)
def this_machine(monkeypatch, tmp_path_factory):
    """Every test runs as on a machine without systemd whose uWSGI plugin embeds this Python.

    Tests of the systemd paths set ``services.systemd_running`` themselves.
    """
    plugin = tmp_path_factory.mktemp("plugins") / "python3_plugin.so"
    plugin.write_bytes(b"\x7fELF...libpython%d.%d.so.1.0\0..." % sys.version_info[:2])
    monkeypatch.setattr(layout, "UWSGI_PYTHON_PLUGIN", plugin)
    monkeypatch.setattr(services, "systemd_running", lambda: False)
    # Tests keep their uploads in pytest's directories under /tmp, which a real
    # server refuses (test_settings checks it with the real list).
    monkeypatch.setattr(settings, "SYSTEM_DIRS", tuple(d for d in settings.SYSTEM_DIRS if str(d) != "/tmp"))
    # Tests that write nginx's locations to their own directory leave the page
    # cache's parts at layout's paths: those go to a directory of the test's too.
    generated = tmp_path_factory.mktemp("lib-nginx")
    for name in ("NGINX_CACHE_HTTP_FILE", "NGINX_CACHE_LOCATION_FILE"):
        monkeypatch.setattr(layout, name, generated / getattr(layout, name).name)


@pytest.fixture(scope="session")
def password_hash():
    # scrypt is slow on purpose; hash once, with a small work factor, as
    # check_password_hash reads the factor from the hash itself.
    return generate_password_hash(PASSWORD, method="scrypt:1024:8:1")


@pytest.fixture
def config(tmp_path, password_hash):
    password_file = tmp_path / "admin-password"
    password_file.write_text(password_hash + "\n")
    return {
        "SECRET_KEY": "test secret key",
        "DATABASE": str(tmp_path / "subsite.db"),
        "UPLOADS_DIR": str(tmp_path / "uploads"),
        "PASSWORD_FILE": str(password_file),
    }


@pytest.fixture
def frontend(config):
    return create_frontend(config)


@pytest.fixture
def admin(config):
    return create_admin(config)


@pytest.fixture
def app(frontend, admin):
    return make_application(frontend, admin)


@pytest.fixture(params=PREFIXES, ids=["root", "subsite", "a-b"])
def prefix(request):
    return request.param


@pytest.fixture
def client(app, prefix):
    return MountedClient(app, prefix)


@pytest.fixture
def make_client(config, prefix):
    """Return a factory for clients of an app built with other settings."""

    def make(trusted_proxies=0, trusted_headers=TRUSTED_HEADERS, scheme="http", use_cookies=True, **overrides):
        changed = {**config, **overrides}
        application = make_application(create_frontend(changed), create_admin(changed),
                                       trusted_proxies=trusted_proxies, trusted_headers=trusted_headers)
        return MountedClient(application, prefix, scheme, use_cookies=use_cookies)

    return make


@pytest.fixture
def add_post(frontend):
    """Insert a post directly; an ``image`` is given as bytes and stored."""

    def add(title="Hello", body="A notice.", image=None):
        with frontend.app_context():
            name = None
            if image is not None:
                folder = Path(frontend.config["UPLOADS_DIR"])
                folder.mkdir(parents=True, exist_ok=True)
                name = f"{secrets.token_hex(16)}.png"
                (folder / name).write_bytes(image)
            return db.create_post(title, body, name)

    return add


@pytest.fixture
def auth(client):
    return AuthActions(client)
