"""Fixtures: the combined app at several prefixes, a client that mounts it like uWSGI; a real PostgreSQL."""

import itertools
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile
from contextlib import closing
from pathlib import Path

import pytest
from werkzeug.security import generate_password_hash

from support import PASSWORD, PREFIXES, AuthActions, MountedClient
from subsite import db, layout, migrations, postgres, services, settings
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
    # The board's generation (/run/subsite on a server): each test its own.
    monkeypatch.setattr(layout, "GENERATION_DIR", tmp_path_factory.mktemp("run") / layout.NAME)


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


# Debian's postgresql-NN packages; the newest is used.
POSTGRES_BINS = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))


class PostgresServer:
    """A PostgreSQL server of the test session's own: its data and unix socket in a temporary directory, no TCP."""

    def __init__(self, bindir, folder, user):
        self.bindir, self.folder, self.user = bindir, folder, user
        self.data = folder / "data"
        self._names = itertools.count(1)

    def run(self, tool, *args):
        # initdb and postgres refuse to run as root: as root, the server is nobody's.
        subprocess.run([str(self.bindir / tool), *args], check=True, capture_output=True, cwd="/",
                       user=self.user, group=pwd.getpwnam(self.user).pw_gid if self.user else None,
                       extra_groups=[] if self.user else None)

    def start(self):
        self.run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "log"), "-w", "-o",
                 f"-k {self.folder} -c listen_addresses='' -c fsync=off -c synchronous_commit=off "
                 "-c full_page_writes=off", "start")

    def stop(self, mode="fast"):
        self.run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def url(self, database="postgres", schema=None):
        """The URL of ``database``, or of its ``schema`` (a test's database: its own search_path)."""
        options = f"&options=-c%20search_path%3D{schema}" if schema else ""
        return f"postgresql:///{database}?host={self.folder}&user=subsite{options}"

    def new_database(self, migrated=True):
        """Make a test's database, empty or ``migrated`` (as `subsite migrate` leaves it); return its URL.

        A schema of its own, which costs a few ms where CREATE DATABASE costs a checkpoint (a third of a second).
        """
        schema = f"test{next(self._names)}"
        with closing(postgres.connect(self.url())) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        url = self.url(schema=schema)
        if migrated:
            with closing(postgres.connect(url)) as conn:
                migrations.migrate(conn, schema)
        return url


@pytest.fixture(scope="session")
def postgres_server():
    """Start a PostgreSQL server for the session (initdb, pg_ctl); skip when PostgreSQL is not installed."""
    if not POSTGRES_BINS:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql; scripts/test does): "
                    "the tests against a real PostgreSQL are skipped")
    user = "nobody" if os.geteuid() == 0 else None
    # Outside pytest's directories, which are root's alone: the server's user must reach it.
    folder = Path(tempfile.mkdtemp(prefix="subsite-pg-"))
    if user:
        shutil.chown(folder, user)
    server = PostgresServer(POSTGRES_BINS[-1].parent, folder, user)
    try:
        server.run("initdb", "-D", str(server.data), "-U", "subsite", "--auth=trust", "-E", "UTF8",
                   "--locale=C.UTF-8")
        server.start()
        yield server
    finally:
        try:
            server.stop("immediate")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(folder, ignore_errors=True)


def _postgres_database(server, migrated):
    """A new database's URL; the app's connections closed after."""
    url = server.new_database(migrated)
    yield url
    for key in [key for key in db._connections if key[2] == url]:
        db._connections.pop(key)[0].close()


@pytest.fixture
def pg_url(postgres_server):
    """The URL of a new PostgreSQL database, migrated to this release's schema and holding nothing."""
    yield from _postgres_database(postgres_server, migrated=True)


@pytest.fixture
def empty_pg_url(postgres_server):
    """The URL of a new PostgreSQL database without any table."""
    yield from _postgres_database(postgres_server, migrated=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request):
    """Each backend in turn: the name; tests take backend_database."""
    return request.param


@pytest.fixture
def backend_database(backend, tmp_path, request):
    """The DATABASE setting of ``backend``: a new SQLite file's path or a new PostgreSQL database's URL."""
    if backend == "sqlite":
        return str(tmp_path / "subsite.db")
    return request.getfixturevalue("pg_url")


@pytest.fixture
def on_backend(config, backend_database):
    """The config of an app on each backend in turn (SQLite, PostgreSQL)."""
    return {**config, "DATABASE": backend_database}
