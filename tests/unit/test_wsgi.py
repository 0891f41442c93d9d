import importlib
import os
import signal
import subprocess
import sys
import types

import pytest
from werkzeug.test import Client

from support import MountedClient
from subsite import layout

SETTINGS = """\
[subsite]
prefix = /ignored-here
trusted-proxies = {trusted}
trusted-headers = {headers}
database = {tmp}/data/subsite.db
uploads = {tmp}/data/uploads
"""


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """A settings file named by SUBSITE_SETTINGS, and the secret key in place."""

    def install(trusted=0, headers="for, proto"):
        (tmp_path / "data").mkdir(exist_ok=True)
        settings_file = tmp_path / "subsite.ini"
        settings_file.write_text(SETTINGS.format(trusted=trusted, headers=headers, tmp=tmp_path))
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


@pytest.mark.parametrize(("trusted", "headers", "script_root"),
                         [(0, "prefix", ""), (1, "for, proto", ""), (1, "prefix", "/edge")])
def test_trusted_proxies_from_settings(installed, trusted, headers, script_root):
    wsgi = installed(trusted=trusted, headers=headers)
    response = Client(wsgi.application).get("/_health", headers={"X-Forwarded-Prefix": "/edge"})
    assert response.get_json()["script_root"] == script_root


def test_config_from_settings(installed, tmp_path):
    wsgi = installed()
    values = wsgi.settings.load(tmp_path / "subsite.ini")
    assert wsgi.app_config(values) == {
        "DATABASE": str(tmp_path / "data" / "subsite.db"),
        "UPLOADS_DIR": str(tmp_path / "data" / "uploads"),
        "TRUSTED_PROXIES": 0,
        "TRUSTED_HEADERS": ("for", "proto"),
        "LOGIN_ATTEMPTS": values.login_attempts,
        "LOGIN_ATTEMPTS_TOTAL": values.login_attempts_total,
        "TEST_ENDPOINTS": False,
    }


def test_broken_settings_name_the_file(installed, tmp_path):
    installed()
    bad = tmp_path / "bad.ini"
    bad.write_text("[subsite]\ntrusted-proxies = many\n")
    from subsite import settings, wsgi

    with pytest.raises(settings.SettingsError, match="bad.ini:2"):
        wsgi.build(bad)


@pytest.fixture
def sigchld():
    """Put SIGCHLD's disposition back after a test changed it."""
    before = signal.getsignal(signal.SIGCHLD)
    yield
    signal.signal(signal.SIGCHLD, before)


def fake_uwsgi(monkeypatch, masterpid):
    monkeypatch.setitem(sys.modules, "uwsgi", types.SimpleNamespace(masterpid=lambda: masterpid))


def test_uwsgi_master_wakes_when_a_worker_exits(installed, monkeypatch, sigchld):
    wsgi = installed()
    fake_uwsgi(monkeypatch, os.getpid())
    assert wsgi.wake_master_on_worker_exit() is True
    assert signal.getsignal(signal.SIGCHLD) is wsgi._worker_exited


@pytest.mark.parametrize("masterpid", [None, "other", 0, 1])
def test_outside_uwsgi_master_sigchld_is_left_alone(installed, monkeypatch, sigchld, masterpid):
    wsgi = installed()
    if masterpid is None:
        monkeypatch.setitem(sys.modules, "uwsgi", None)   # import fails: not under uWSGI
    elif masterpid == "other":                             # e.g. this repo's uwsgi/ folder
        monkeypatch.setitem(sys.modules, "uwsgi", types.SimpleNamespace())
    else:
        fake_uwsgi(monkeypatch, masterpid)                 # no master, or a lazy-apps worker
    before = signal.getsignal(signal.SIGCHLD)
    assert wsgi.wake_master_on_worker_exit() is False
    assert signal.getsignal(signal.SIGCHLD) is before


def test_a_child_is_still_reaped_by_its_waiter(installed, monkeypatch, sigchld):
    wsgi = installed()
    fake_uwsgi(monkeypatch, os.getpid())
    wsgi.wake_master_on_worker_exit()
    # The handler must not reap (uWSGI's master waits for its workers itself).
    assert subprocess.run(["true"]).returncode == 0
    pid = os.fork()
    if pid == 0:
        os._exit(7)
    assert os.waitpid(pid, 0) == (pid, 7 << 8)


def as_web_user(monkeypatch, wsgi):
    """The app's process as uWSGI runs it: not root."""
    monkeypatch.setattr(wsgi.os, "geteuid", lambda: 33)


def test_a_start_publishes_the_boards_generation(installed, tmp_path, monkeypatch):
    from subsite import pagecache

    wsgi = installed()
    database = tmp_path / "data" / "subsite.db"
    as_web_user(monkeypatch, wsgi)
    assert wsgi.publish_generation(database) is True
    published = pagecache.published(pagecache.folder())
    # This start's own: a start may bring other settings or templates than the pages nginx kept.
    assert published.endswith(f"-{pagecache.START}")
    assert published.startswith(pagecache.current(wsgi.db.connect(database)))


def test_root_publishes_nothing_in_the_apps_data(installed, tmp_path):
    # A uWSGI master still running as root: the workers (www-data) publish.
    wsgi = installed()
    if os.geteuid() != 0:
        pytest.skip("needs root")
    assert wsgi.publish_generation(tmp_path / "data" / "subsite.db") is False
    assert not wsgi.pagecache.folder().exists()


def test_a_start_that_cannot_publish_lets_nginx_pass_everything_to_the_app(installed, tmp_path, monkeypatch,
                                                                            capsys):
    wsgi = installed()
    as_web_user(monkeypatch, wsgi)
    database = tmp_path / "data" / "subsite.db"
    stale = wsgi.pagecache.link()
    wsgi.pagecache.publish(stale.parent, "from-the-last-start")
    monkeypatch.setattr(wsgi.pagecache, "sync", lambda conn, path: (_ for _ in ()).throw(
        wsgi.sqlite3.OperationalError("database is locked")))
    assert wsgi.publish_generation(database) is False
    assert not stale.is_symlink(), "no generation: nginx answers nothing from its cache"
    assert "cannot publish the board's generation for nginx's page cache: database is locked" in \
        capsys.readouterr().err


def test_each_new_uwsgi_worker_publishes(installed, tmp_path, monkeypatch):
    wsgi = installed()
    hooks = types.SimpleNamespace(masterpid=os.getpid)
    monkeypatch.setitem(sys.modules, "uwsgi", hooks)
    assert wsgi.publish_generation_in_workers(tmp_path / "data" / "subsite.db") is True
    published = []
    monkeypatch.setattr(wsgi, "publish_generation", published.append)
    hooks.post_fork_hook()
    assert published == [tmp_path / "data" / "subsite.db"]
    for elsewhere in (None, types.SimpleNamespace()):      # not under uWSGI; this repo's uwsgi/ folder
        monkeypatch.setitem(sys.modules, "uwsgi", elsewhere)
        assert wsgi.publish_generation_in_workers(tmp_path / "data" / "subsite.db") is False


def test_the_app_refuses_to_start_on_a_postgresql_database_older_than_it_needs(installed, pg_url, tmp_path,
                                                                               monkeypatch, capsys):
    from contextlib import closing

    from subsite import migrations, postgres

    wsgi = installed()
    as_web_user(monkeypatch, wsgi)
    settings_file = tmp_path / "subsite.ini"
    settings_file.write_text(settings_file.read_text().replace(f"database = {tmp_path}/data/subsite.db",
                                                               f"database = {pg_url}"))
    assert wsgi.start(settings_file) is not None
    with closing(postgres.connect(pg_url)) as conn, conn:
        conn.execute("DELETE FROM schema_migrations WHERE version = ?", (migrations.LATEST,))
    with pytest.raises(migrations.SchemaError):
        wsgi.start(settings_file)
    err = capsys.readouterr().err
    assert "the app cannot start" in err and "run 'subsite migrate'" in err
