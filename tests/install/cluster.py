"""Several hosts on one machine: a balancer, app hosts and a database host.

Each host is a Machine (its own root, mount and PID namespaces) and all of
them share one network namespace (a Network), each on its own loopback
address, so they reach each other as separate hosts would and nothing else
is reachable. Their configuration is put in place before the packages are
installed, as configuration management does, and dpkg keeps it
(--force-confold): each host's nginx listens on its own address only. The app
hosts install subsite with apt from a signed repository (scripts/publish),
served over HTTP in the same namespace, with its key in /etc/apt/keyrings.

    balancer  127.0.0.10  HAProxy, from the package's example configuration
    app1      127.0.0.11  subsite (nginx, uWSGI)
    app2      127.0.0.12  subsite
    db        127.0.0.13  PostgreSQL (Debian's postgresql)
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import soak
from browser import Browser
from machine import CLEAN_ENV, HOST_PYTHON, REPO_DIR, Machine, serve_http, sh

sys.path.insert(0, str(REPO_DIR / "scripts"))
import entrypoints  # noqa: E402
import rolling  # noqa: E402

BALANCER = "127.0.0.10"
APP_HOSTS = {"app1": "127.0.0.11", "app2": "127.0.0.12"}
DATABASE_HOST = "127.0.0.13"
ADDRESSES = {"balancer": BALANCER, **APP_HOSTS, "db": DATABASE_HOST}
PUBLIC_NAME = "board.example"
PUBLIC = {"Host": PUBLIC_NAME}
PREFIX = "/subsite"
# Seconds of load around each fault: CI's short form; scripts/cluster-soak sets more.
LOAD_SECONDS = float(os.environ.get("SUBSITE_CLUSTER_SECONDS", "8"))
# The public's load through the balancer (loadgen.py's spec).
READS = {"mode": "load", "prefix": PREFIX, "host": BALANCER, "host_header": PUBLIC_NAME, "connections": 8}
HAPROXY_EXAMPLE = REPO_DIR / "debian/examples/haproxy.cfg"
HAPROXY_SOCKET = rolling.SOCKET
BACKEND = rolling.BACKEND
# apt as configuration management runs it: keep the files put in place before the install.
APT_KEEP = "-o Dpkg::Options::=--force-confold -o Dpkg::Options::=--force-confdef"
# The machines the app hosts are, as conftest.py names them: booting systemd (CI's), and not.
MACHINES = ("bookworm-systemd", "bookworm-sysv")
# The admin's password on the app hosts (test only).
PASSWORD = "cluster admin password"
# The PostgreSQL role and database of the board, and the role's password (test only).
DB_NAME = DB_USER = "subsite"
DB_PASSWORD = "cluster-test-password"


class Network:
    """A network namespace with its loopback up, held by a sleeping process; machines join it."""

    def __init__(self):
        self.proc = subprocess.Popen(
            ["unshare", "--net", "/bin/sh", "-c", "ip link set lo up && echo READY && exec sleep infinity"],
            stdout=subprocess.PIPE, env=CLEAN_ENV, start_new_session=True)
        if self.proc.stdout.readline().strip() != b"READY":
            self.proc.kill()
            raise AssertionError("the cluster's network namespace did not come up")
        self.pid = self.proc.pid

    def close(self):
        self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()


def publish_tool():
    """scripts/publish as a module (its file names and the commands it tells hosts to run)."""
    return entrypoints.load("publish")


def nginx_site(address, name, text):
    """Debian's site file TEXT (default or subsite) listening on ADDRESS:80 only, also for NAME."""
    text = re.sub(r"^(\s*)listen \[::\]:80[^;]*;\n", "", text, flags=re.M)
    text = re.sub(r"^(\s*)listen 80([^;]*);", rf"\1listen {address}:80\2;", text, flags=re.M)
    if name:
        text = re.sub(r"^(\s*server_name [^;]*);", rf"\1 {name} {address};", text, count=1, flags=re.M)
    return text


def haproxy_config(servers, address=BALANCER, example=HAPROXY_EXAMPLE):
    """The package's example configuration with SERVERS ({name: address}), bound to ADDRESS:80.

    Logging goes nowhere (no syslog in the machines); all else is the example's.
    """
    text = example.read_text()
    lines = "".join(f"\tserver {name} {addr}:80\n" for name, addr in servers.items())
    text, count = re.subn(r"(\tserver \S+ \S+\n)+", lines, text)
    assert count == 1, "the example has no block of server lines"
    lines = "".join(f"\tserver {name}-fallback {addr}:80 backup no-check\n" for name, addr in servers.items())
    text, count = re.subn(r"(\tserver \S+-fallback \S+ backup no-check\n)+", lines, text)
    assert count == 1, "the example has no block of fallback server lines"
    text = text.replace("\tbind :80\n", f"\tbind {address}:80\n")
    text = re.sub(r"^\tlog /dev/log.*\n", "", text, flags=re.M)
    assert f"hdr Host {PUBLIC_NAME}" in text and f"uri {PREFIX}/_health" in text
    return text


class Cluster:
    """The hosts, made and booted in one Network; use as a context manager."""

    def __init__(self, debs, suite="bookworm", init="sysv"):
        """INIT: the app hosts' ("systemd", as a server boots, or "sysv"); the others run without systemd."""
        self.debs, self.suite, self.init = debs, suite, init
        self.network = Network()
        self.hosts: dict[str, Machine] = {}
        self.repository = Path(tempfile.mkdtemp(prefix="subsite-cluster-repo-"))
        self._server, self.repository_url = serve_http(self.network.pid, self.repository)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        for host in self.hosts.values():
            host.shutdown()
        self._server.kill()
        self._server.wait()
        self._server.stdout.close()
        self.network.close()
        shutil.rmtree(self.repository, ignore_errors=True)

    def publish(self, debs):
        """Publish DEBS (for the cluster's suite) to its signed repository (scripts/publish: its test key)."""
        sh([HOST_PYTHON, str(REPO_DIR / "scripts" / "publish"), "--debs", *map(str, debs), "--suite", self.suite,
            "--out", str(self.repository / "apt"), "--url", f"{self.repository_url}/apt/repo"])

    def use_repository(self, m):
        """Make the signed repository MACHINE's only source of subsite, as an admin sets a host up."""
        tool = publish_tool()
        m.drop_local_repo()
        (m.root / "etc/apt/keyrings").mkdir(parents=True, exist_ok=True)
        shutil.copy2(self.repository / "apt" / tool.KEYRING, m.root / "etc/apt/keyrings" / tool.KEYRING)
        shutil.copy2(self.repository / "apt" / self.suite / tool.SOURCES,
                     m.root / "etc/apt/sources.list.d" / tool.SOURCES)
        # (Debian's mirror is out of reach: its lists stay those of the download cache.)
        m.run("apt-get update -q -o Acquire::Retries=0", timeout=120)

    def machine(self, name, download, init="sysv"):
        """A new Machine NAME (booting INIT) in the network, with DOWNLOAD's packages in its apt cache."""
        m = Machine.create(debs=self.debs, download=download, boot=False, suite=self.suite, init=init)
        m.hostname = name
        (m.root / "etc/hostname").write_text(name + "\n")
        self.hosts[name] = m
        m.boot(net=self.network.pid)
        return m

    # ---- the database host -------------------------------------------------

    def database(self):
        """PostgreSQL on DATABASE_HOST, with the board's role and database."""
        db = self.machine("db", ["postgresql"])
        db.run(f"apt-get install -q -y {APT_KEEP} postgresql", timeout=600)
        conf = db.run("ls -d /etc/postgresql/*/main").stdout.strip()
        db.run(f"echo \"listen_addresses = '{DATABASE_HOST}'\" >> {conf}/postgresql.conf && "
               f"echo 'host {DB_NAME} {DB_USER} 127.0.0.0/8 scram-sha-256' >> {conf}/pg_hba.conf && "
               "service postgresql restart")
        for sql in (f"CREATE ROLE {DB_USER} LOGIN PASSWORD '{DB_PASSWORD}'", f"CREATE DATABASE {DB_NAME} OWNER {DB_USER}"):
            db.run(f"su postgres -c {shlex.quote(f'psql -q -v ON_ERROR_STOP=1 -c {shlex.quote(sql)}')}")
        return db

    @property
    def database_url(self):
        return f"postgresql://{DB_USER}@{DATABASE_HOST}/{DB_NAME}?passfile=/etc/subsite/pgpass"

    # ---- app hosts -----------------------------------------------------------

    def app_host(self, name, settings="", secrets=None, package="subsite"):
        """An app host: its nginx sites on its own address, SETTINGS added to the settings
        file, SECRETS ({file name: (text, owner, mode)}) in /etc/subsite, then PACKAGE installed."""
        address = APP_HOSTS[name]
        m = self.machine(name, ["subsite"], init=self.init)
        self.use_repository(m)
        host_etc = m.root / "etc"
        base = REPO_DIR / "nginx/sites-available/subsite"
        (host_etc / "nginx/sites-available").mkdir(parents=True, exist_ok=True)
        (host_etc / "nginx/sites-available/subsite").write_text(nginx_site(address, PUBLIC_NAME, base.read_text()))
        (host_etc / "nginx/sites-available/default").write_text(nginx_site(address, None, DEFAULT_SITE))
        etc = host_etc / "subsite"
        etc.mkdir(mode=0o755, exist_ok=True)
        (etc / "subsite.ini").write_text(f"[subsite]\nprefix = {PREFIX}\ntrusted-proxies = 1\n{settings}")
        for file, (text, owner, mode) in (secrets or {}).items():
            (etc / file).write_text(text)
            m.run(f"chown {owner} /etc/subsite/{file} && chmod {mode:o} /etc/subsite/{file}")
        m.run(f"apt-get install -q -y {APT_KEEP} {package}", timeout=600)
        # nginx's postinst does not start nginx while anything listens on port 80,
        # which another host in this shared namespace does: start it here.
        m.run("service nginx status >/dev/null || service nginx start")
        return m

    def wait_healthy(self, name, timeout=30):
        address = APP_HOSTS[name]
        return self.hosts[name].wait_http(f"http://{address}{PREFIX}/_health", headers={"Host": PUBLIC_NAME},
                                          timeout=timeout)

    def shared_app_hosts(self, password, database=True):
        """Every app host with one secret key and admin password; on the database host's
        PostgreSQL, or (DATABASE false) each on its own SQLite board, as release 1.0.0 runs.

        The first host's install makes the secret key; `subsite migrate` makes
        the schema and `subsite password` the admin's password there; the
        other hosts get both files before their install, as configuration
        management would put them.
        """
        settings, secrets = "", {}
        if database:
            settings = f"database = {self.database_url}\n"
            secrets["pgpass"] = (f"{DATABASE_HOST}:5432:{DB_NAME}:{DB_USER}:{DB_PASSWORD}\n", "www-data:www-data",
                                 0o600)
        first, *others = APP_HOSTS
        m = self.app_host(first, settings, secrets)
        if database:
            m.run("subsite migrate")
        m.run("subsite password", input=password + "\n")
        m.run("service uwsgi restart")
        self.wait_healthy(first)
        shared = {name: (m.run(f"cat /etc/subsite/{name}").stdout, "root:www-data", 0o640)
                  for name in ("secret-key", "admin-password")}
        for name in others:
            self.app_host(name, settings, {**secrets, **shared})
            self.wait_healthy(name)

    # ---- the balancer --------------------------------------------------------

    def balancer(self, servers=None):
        """HAProxy on BALANCER from the package's example, in front of SERVERS (default: APP_HOSTS)."""
        lb = self.machine("balancer", ["haproxy", "socat"])
        (lb.root / "etc/haproxy").mkdir(parents=True, exist_ok=True)
        (lb.root / "etc/haproxy/haproxy.cfg").write_text(haproxy_config(servers or APP_HOSTS))
        lb.run(f"apt-get install -q -y {APT_KEEP} haproxy socat", timeout=600)
        lb.run("haproxy -c -f /etc/haproxy/haproxy.cfg")
        return lb

    def balancer_socket(self):
        """HAProxy's admin socket on the balancer, as scripts/roll reaches it (rolling.Balancer)."""
        lb = self.hosts["balancer"]
        return rolling.Balancer(lambda command: lb.run(command).stdout, BACKEND, HAPROXY_SOCKET)

    def wait_states(self, wanted, timeout=30):
        """Wait until every server in WANTED ({server: state prefix}) is in that state
        (rolling.Balancer.wait: a RollError after TIMEOUT seconds)."""
        socket = self.balancer_socket()
        for server, state in wanted.items():
            socket.wait(server, lambda row, state=state: row["status"].startswith(state), f"being {state}", timeout)

    def roll(self, upgrade=rolling.UPGRADE):
        """Upgrade every app host in turn as scripts/roll does (rolling.roll, over HAProxy's admin
        socket and each host's shell); return the steps it logged."""
        runs = {name: (lambda command, m=self.hosts[name]: m.run(command, timeout=600).stdout)
                for name in APP_HOSTS}
        steps = []
        rolling.roll(self.balancer_socket(), runs, upgrade=upgrade, log=steps.append)
        return steps

    # ---- traffic -------------------------------------------------------------

    def browser(self, name, cookies_of=None):
        """A Browser asking host NAME (an app host, or the balancer as the public does) under the
        public name; COOKIES_OF's cookies go along."""
        browser = Browser(self.hosts[name], origin=f"http://{ADDRESSES[name]}", headers=PUBLIC)
        if cookies_of is not None:
            browser.cookies = cookies_of.cookies
        return browser

    def site(self, name, password=soak.PASSWORD):
        """App host NAME as a soak.Site, asked directly under the public name (its posts, its health)."""
        return soak.Site(self.hosts[name], PREFIX, password, origin=f"http://{APP_HOSTS[name]}", headers=PUBLIC)

    def start_load(self, admin=None, **spec):
        """Start loadgen (READS, updated with SPEC) in the balancer's namespace, as the public's
        load; its writes (write_share) go with the session of ADMIN, a logged-in Browser."""
        site = soak.Site(self.hosts["balancer"], PREFIX)
        site.browser = admin
        return site.start(**{**READS, **spec})

    def finish_load(self, proc, stop=False):
        """The JSON result of a loadgen start_load() started (SIGTERM first with STOP)."""
        return soak.Site(self.hosts["balancer"], PREFIX).finish(proc, stop=stop)


# Debian's default site, as nginx-common ships it (without its comments): put
# in place before the install, listening on the host's own address only.
DEFAULT_SITE = """server {
	listen 80 default_server;
	listen [::]:80 default_server;
	root /var/www/html;
	index index.html index.htm index.nginx-debian.html;
	server_name _;
	location / {
		try_files $uri $uri/ =404;
	}
}
"""


def started(debs, password, suite="bookworm", init="sysv"):
    """A Cluster of every host (test_cluster.py's, the benchmark's): DEBS published, PostgreSQL,
    the app hosts (booting INIT) on it with PASSWORD for the admin, the balancer, every app
    host up at the balancer. Close it when done (it is closed here on a failure)."""
    c = Cluster(debs, suite, init)
    try:
        c.publish(debs)
        c.database()
        c.shared_app_hosts(password)
        c.balancer()
        c.wait_states({name: "UP" for name in APP_HOSTS})
    except BaseException:
        c.close()
        raise
    return c
