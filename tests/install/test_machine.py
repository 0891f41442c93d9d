"""Self-test of the install harness with Debian's own nginx-light (no subsite package needed)."""

import os
import time

import pytest

from conftest import require_namespaces
from machine import Machine, host_pids_in

pytestmark = pytest.mark.install


@pytest.fixture(scope="module")
def nginx():
    """A booted machine (empty repo) with nginx-light installed offline."""
    require_namespaces()
    m = Machine.create(download=["nginx-light"])
    try:
        m.install_result = m.install("nginx-light")
        yield m
        pids = host_pids_in(m.pid)
    finally:
        m.shutdown()
    time.sleep(0.2)
    assert not [p for p in pids if os.path.exists(f"/proc/{p}")], "processes survived shutdown"


def test_install_needed_no_network_and_postinst_started_nginx(nginx):
    # install() ran apt-get --no-download inside a net namespace with only lo.
    log = nginx.install_result.stdout
    assert "Setting up nginx-light" in log
    masters = [cmd for _, cmd in nginx.processes() if cmd.startswith("nginx: master process")]
    assert masters, nginx.processes()
    pid = nginx.run("cat /run/nginx.pid").stdout.strip()
    assert nginx.run(f"test -d /proc/{pid}", check=False).returncode == 0


def test_root_looks_like_an_installed_system(nginx):
    assert nginx.run("stat -c %a /").stdout.strip() == "755"
    assert nginx.run("hostname").stdout.strip() == "subsite-test"
    assert "localhost" in nginx.run("getent hosts localhost").stdout  # /etc/hosts written
    assert nginx.run("cat /etc/debian_version").stdout.startswith("12.")


def test_machine_has_only_loopback(nginx):
    devs = nginx.run("tail -n +3 /proc/net/dev | cut -d: -f1").stdout.split()
    assert devs == ["lo"]
    routes = nginx.run("tail -n +2 /proc/net/route").stdout.strip()
    assert routes == ""


def test_http_get(nginx):
    r = nginx.http("GET", "http://127.0.0.1/")
    assert r.status == 200, r.text
    assert "Welcome to nginx" in r.text
    assert r.headers["server"].startswith("nginx")
    assert r.headers.get("CONTENT-TYPE") == "text/html"
    assert int(r.headers["Content-Length"]) == len(r.body)


def test_http_any_host_header_and_head(nginx):
    r = nginx.http("GET", "http://127.0.0.1/", headers={"Host": "evil.test"})
    assert r.status == 200
    r = nginx.http("HEAD", "/")
    assert r.status == 200 and r.body == b""


def test_http_ipv6_and_port(nginx):
    assert nginx.http("GET", "http://[::1]/").status == 200
    assert nginx.http("GET", "http://localhost:80/").status == 200


def test_http_sends_target_raw(nginx):
    r = nginx.http("GET", "http://127.0.0.1/subsite/static../x?x=1")
    assert r.status == 404
    r = nginx.http("OPTIONS", "http://localhost:80/a/./b/../c")
    assert r.status in (404, 405)
    log = nginx.run("cat /var/log/nginx/access.log").stdout
    assert '"GET /subsite/static../x?x=1 HTTP/1.1" 404' in log
    assert '"OPTIONS /a/./b/../c HTTP/1.1"' in log


def test_http_multi_valued_headers():
    from machine import Response
    r = Response(200, "OK", [("Set-Cookie", "a=1"), ("set-cookie", "b=2"), ("X", "y")], b"{}")
    assert r.headers.get_all("SET-COOKIE") == ["a=1", "b=2"]
    assert "x" in r.headers and r.json() == {}


def test_wait_http_after_async_reload(nginx):
    nginx.run("sed 's/listen 80 default_server;/listen 8081;/; /listen \\[::\\]:80/d'"
              " /etc/nginx/sites-available/default > /etc/nginx/sites-enabled/other"
              " && nginx -t && service nginx reload")
    assert nginx.wait_http("http://127.0.0.1:8081/", timeout=10).status == 200
    with pytest.raises(AssertionError, match="did not answer 200"):
        nginx.wait_http("http://127.0.0.1:8082/", timeout=1)


def test_raw(nginx):
    out = nginx.raw(b"GET / HTTP/1.0\r\nHost: anything\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Welcome to nginx" in out
    out = nginx.raw(b"BLAH\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400")


def test_processes_only_visible_inside(nginx):
    procs = nginx.processes()
    pids = dict(procs)
    assert pids[1].startswith("/usr/bin/python3 -c"), procs   # our reaping init
    assert not any("pytest" in cmd for cmd in pids.values()), procs
    assert len(procs) < 20, procs
    # The host sees the same processes under other PIDs, in another pid namespace.
    assert os.readlink(f"/proc/{nginx.pid}/ns/pid") != os.readlink("/proc/self/ns/pid")
    host = host_pids_in(nginx.pid)
    assert nginx.pid in host and len(host) >= 2


def test_orphans_are_reaped(nginx):
    nginx.run("sh -c '(sleep 0.2 &)'")   # double fork: sleep is re-parented to PID 1
    time.sleep(1.5)
    states = nginx.run("cat /proc/[0-9]*/stat 2>/dev/null | awk '{print $3}'").stdout.split()
    assert "Z" not in states


def test_shutdown_kills_everything_and_removes_root():
    require_namespaces()
    m = Machine.create(download=[])
    m.run("start-stop-daemon --start --background --exec /bin/sleep -- 1000")
    m.run("setsid sh -c 'sleep 1000 & sleep 1000 &'")
    pids = host_pids_in(m.pid)
    assert len(pids) >= 4, pids
    root = m.root
    m.shutdown()
    time.sleep(0.2)
    assert [p for p in pids if os.path.exists(f"/proc/{p}")] == []
    assert not root.exists()


def test_machine_dies_with_its_owner():
    """If the test process dies (closing the pipe to PID 1), the machine goes too."""
    require_namespaces()
    m = Machine.create(download=[])
    m.run("start-stop-daemon --start --background --exec /bin/sleep -- 1000")
    pids = host_pids_in(m.pid)
    m._unshare.stdin.close()
    m._unshare.wait(timeout=10)
    time.sleep(0.2)
    assert [p for p in pids if os.path.exists(f"/proc/{p}")] == []
    m.shutdown()


def test_a_machine_that_boots_systemd_reboots_and_leaves_nothing():
    require_namespaces()
    from machine import SystemdMachine

    with Machine.create(init="systemd") as m:
        assert isinstance(m, SystemdMachine)
        assert m.run("systemctl is-system-running").stdout.strip() in ("running", "degraded")
        assert m.run("cat /proc/1/comm").stdout.strip() == "systemd"
        assert m.run("tail -n +3 /proc/net/dev | cut -d: -f1").stdout.split() == ["lo"]
        m.run("echo kept > /root/note")
        first = m.pid
        m.reboot()
        assert m.pid != first, "a new PID 1"
        assert m.run("cat /root/note").stdout == "kept\n"
        root, groups = m.root, m._cgroups()
    assert not root.exists()
    assert not [group for group in groups if group.exists()]
