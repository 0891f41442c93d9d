import importlib
import sys

import pytest
from werkzeug.test import Client

from support import MountedClient
from subsite import layout

SETTINGS = """\
[subsite]
prefix = /ignored-here
trusted-proxies = {trusted}
database = {tmp}/data/subsite.db
uploads = {tmp}/data/uploads
"""


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """A settings file named by SUBSITE_SETTINGS, and the secret key in place."""

    def install(trusted=0):
        (tmp_path / "data").mkdir(exist_ok=True)
        settings_file = tmp_path / "subsite.ini"
        settings_file.write_text(SETTINGS.format(trusted=trusted, tmp=tmp_path))
        (tmp_path / "secret-key").write_text("from the file\n")
        monkeypatch.setenv("SUBSITE_SETTINGS", str(settings_file))
        monkeypatch.setattr(layout, "SECRET_KEY_FILE", tmp_path / "secret-key")
        monkeypatch.setattr(layout, "PASSWORD_FILE", tmp_path / "admin-password")
        # Import afresh: the module builds the application when imported.
        monkeypatch.delitem(sys.modules, "subsite.wsgi", raising=False)
        return importlib.import_module("subsite.wsgi")

    yield install
    sys.modules.pop("subsite.wsgi", None)


def test_application_from_settings(installed, tmp_path, prefix):
    wsgi = installed()
    client = MountedClient(wsgi.application, prefix)
    health = client.get("/_health")
    assert health.status_code == 200
    assert health.json["script_root"] == prefix  # from the mount, not the file
    assert (tmp_path / "data" / "subsite.db").exists()
    assert "No admin password is set" in client.get("/admin/login").text


@pytest.mark.parametrize(("trusted", "script_root"), [(0, ""), (1, "/edge")])
def test_trusted_proxies_from_settings(installed, trusted, script_root):
    wsgi = installed(trusted=trusted)
    response = Client(wsgi.application).get("/_health", headers={"X-Forwarded-Prefix": "/edge"})
    assert response.get_json()["script_root"] == script_root


def test_config_from_settings(installed, tmp_path):
    wsgi = installed()
    values = wsgi.settings.load(tmp_path / "subsite.ini")
    assert wsgi.app_config(values) == {
        "DATABASE": str(tmp_path / "data" / "subsite.db"),
        "UPLOADS_DIR": str(tmp_path / "data" / "uploads"),
        "TRUSTED_PROXIES": 0,
        "LOGIN_ATTEMPTS": values.login_attempts,
        "TEST_ENDPOINTS": False,
    }


def test_broken_settings_name_the_file(installed, tmp_path):
    installed()
    bad = tmp_path / "bad.ini"
    bad.write_text("[subsite]\ntrusted-proxies = many\n")
    from subsite import settings, wsgi

    with pytest.raises(settings.SettingsError, match="bad.ini:2"):
        wsgi.build(bad)
