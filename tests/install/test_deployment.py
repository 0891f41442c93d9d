"""The .deb installed with apt into a clean Debian 12 root, checked over real HTTP.

One machine for the module; the tests run in order: install at the default
prefix, then move the prefix by hand edit, by `subsite prefix` and by a
preseeded dpkg-reconfigure, checking every URL the app emits after each move.
"""

import json
import re
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlsplit

import pytest

from bench_setups import seed_posts
from browser import Browser, png_bytes
from conftest import app_master, app_workers
from soak import Site

PASSWORD = "correct horse battery"
REDIRECTS = (301, 302, 303, 307, 308)


@pytest.fixture(scope="module")
def installed(machine):
    """The machine with subsite installed by apt, as an admin would."""
    machine.install("subsite")
    machine.run("subsite password", input=PASSWORD + "\n")
    return machine


def health(machine, prefix, origin="http://localhost"):
    answer = machine.http("GET", f"{origin}{prefix}/_health")
    return answer.status, (answer.json() if answer.status == 200 else None)


def relative_or_origin(location, origin):
    """Strip ``origin`` from an absolute Location; fail on any other host."""
    parts = urlsplit(location)
    if parts.netloc:
        assert f"{parts.scheme}://{parts.netloc}" == origin, f"Location {location!r} left {origin}"
        return location[len(origin):]
    return location


def check_prefix(machine, prefix, origin="http://localhost"):
    """Check every URL, redirect, cookie and header the app emits under ``prefix``."""
    port = urlsplit(origin).port
    browser = Browser(machine, origin)
    title = f"Hello {prefix or 'root'}"

    # 2. P/ answers, the app sees script root P; 1. P?x=1 redirects to P/?x=1.
    status, seen = health(machine, prefix, origin)
    assert status == 200 and seen["script_root"] == prefix, seen
    front = browser.get(f"{prefix}/")
    assert front.status == 200
    if prefix:
        bare = browser.get(f"{prefix}?x=1")
        assert bare.status in (301, 308)
        assert relative_or_origin(bare.headers["Location"], origin) == f"{prefix}/?x=1"

    # Every link, form and asset on the pages is under the prefix.
    for page in (front.text, browser.get(f"{prefix}/admin/login").text):
        for url in re.findall(r'(?:href|src|action)="([^"]+)"', page):
            if not url.startswith(("http://", "https://", "#", "mailto:")):
                assert url.startswith(f"{prefix}/"), f"{url!r} escapes {prefix}/"

    # 4. HEAD answers like GET, without a body.
    head = browser.request("HEAD", f"{prefix}/")
    assert head.status == 200 and head.body == b""
    assert head.headers["Content-Type"] == front.headers["Content-Type"]

    # 5. A strict trailing slash redirect keeps host and port (and the prefix).
    slash = browser.get(f"{prefix}/dir?q=1")
    assert slash.status in REDIRECTS
    assert relative_or_origin(slash.headers["Location"], origin) == f"{prefix}/dir/?q=1"

    # 10. A forged Host never reaches a Location.
    forged = machine.http("GET", f"{origin}{prefix}/dir", headers={"Host": "evil.test"})
    assert "evil.test" not in forged.headers.get("Location", "")

    # 7. An admin page without login: the login URL under P, next keeps P.
    gate = browser.get(f"{prefix}/admin/posts/new")
    assert gate.status in REDIRECTS
    login_url = relative_or_origin(gate.headers["Location"], origin)
    assert login_url.startswith(f"{prefix}/admin/login")
    wanted = parse_qs(urlsplit(login_url).query)["next"][0]
    assert wanted == f"{prefix}/admin/posts/new"

    # 6. Login POST answers 303 back to that page; following it works.
    login = browser.login(prefix, PASSWORD, next_url=wanted)
    assert login.status == 303
    assert relative_or_origin(login.headers["Location"], origin) == wanted
    assert browser.get(wanted).status == 200
    # An off-site next is refused.
    evil = Browser(machine, origin).login(prefix, PASSWORD, next_url="//evil.test/x")
    assert evil.status == 303 and "evil.test" not in evil.headers["Location"]

    # 12. Session cookie: the admin's own name, Path, HttpOnly, SameSite=Lax.
    admin_cookies = [m for (name, path), m in browser.cookies.items() if name == "subsite_admin"]
    assert admin_cookies, browser.cookies
    for morsel in admin_cookies:
        assert morsel["path"] == f"{prefix}/admin"
        assert morsel["httponly"] and morsel["samesite"].lower() == "lax" and not morsel["secure"]

    # Create a post with an image through the form: 303 to its page under P.
    token = browser.csrf(f"{prefix}/admin/posts/new")
    created = browser.post(f"{prefix}/admin/posts/new", {"csrf_token": token, "title": title,
                                                          "body": "A post."},
                           files={"image": ("dot.png", png_bytes(), "image/png")})
    assert created.status == 303, created.text[:500]
    post_url = relative_or_origin(created.headers["Location"], origin)
    assert re.fullmatch(rf"{re.escape(prefix)}/posts/\d+", post_url)
    post_page = browser.get(post_url)
    assert post_page.status == 200 and title in post_page.text
    assert title in browser.get(f"{prefix}/").text
    images = re.findall(r'src="([^"]*/uploads/[^"]+)"', post_page.text)
    assert images and all(src.startswith(f"{prefix}/uploads/") for src in images)

    # 11. Static files and uploads come from nginx: cache headers, no cookie.
    css = browser.get(f"{prefix}/static/style.css")
    image = browser.get(images[0])
    for answer in (css, image):
        assert answer.status == 200
        assert answer.headers["Server"].startswith("nginx")
        assert "max-age" in answer.headers["Cache-Control"]
        assert "Set-Cookie" not in answer.headers
    # Never framed: the pages (the app's headers) and the files nginx serves itself.
    for answer in (css, image, front, post_page):
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
    assert image.headers["Content-Type"] == "image/png" and image.body == png_bytes()
    for attempt in (f"{prefix}/static../etc/passwd", f"{prefix}/static/../../../../etc/passwd",
                    f"{prefix}/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd", f"{prefix}/uploads../subsite.db"):
        answer = machine.http("GET", origin + attempt)
        assert b"root:x:0:0" not in answer.body and b"SQLite format" not in answer.body, attempt

    # API: the post as JSON; the admin API answers 303 to the new post.
    listed = browser.get(f"{prefix}/api/posts?x=1").json()
    assert any(p["title"] == title for p in listed)
    api = browser.request("POST", f"{prefix}/admin/api/posts",
                          headers={"Content-Type": "application/json",
                                   "X-CSRF-Token": browser.get(f"{prefix}/admin/api/csrf").json()["csrf_token"]},
                          body=json.dumps({"title": "From the API", "body": "JSON"}))
    assert api.status == 303
    assert re.fullmatch(rf"{re.escape(prefix)}/posts/\d+", relative_or_origin(api.headers["Location"], origin))

    # 3. A deep path and its query string reach the app unchanged.
    query = "format=json&q=a%20b&next=%2Fx%3Fy%3D1&u=caf%C3%A9&empty="
    seen = browser.get(f"{prefix}/admin/diagnostics?{query}").json()
    assert seen["script_root"] == f"{prefix}/admin" and seen["path"] == "/diagnostics"
    assert parse_qs(urlsplit(seen["url"]).query, keep_blank_values=True) == parse_qs(query, keep_blank_values=True)
    assert urlsplit(seen["url"]).path == f"{prefix}/admin/diagnostics"

    # 8, 9. Diagnostics: the client's scheme, host and port; forged X-Forwarded-* ignored.
    forged_headers = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Host": "evil.test",
                      "X-Forwarded-Port": "9999", "X-Forwarded-Prefix": "/evil",
                      "X-Forwarded-Proto": "https", "X-Forwarded-Ssl": "on"}
    seen = browser.get(f"{prefix}/admin/diagnostics?format=json", headers=forged_headers).json()
    assert seen["script_root"] == f"{prefix}/admin"
    assert seen["scheme"] == "http" and seen["remote_addr"] == "127.0.0.1"
    expected_host = "localhost" if port in (None, 80) else f"localhost:{port}"
    assert seen["host"] == expected_host
    assert seen["url_for_external"] == f"http://{expected_host}{prefix}/admin/diagnostics"
    assert not any(row["applied"] for row in seen["forwarded_headers"])
    return browser


def check_restart_and_reload(machine, prefix):
    """14. The first request after a restart answers 200; 15. a reload under load fails none."""
    for _ in range(2):
        machine.run("service uwsgi restart")
        first = machine.http("GET", f"http://localhost{prefix}/_health")
        assert first.status == 200, (first.status, first.text[:300])
    before = app_workers(machine)
    site = Site(machine, prefix)
    loading = site.start(connections=16, duration=6)
    time.sleep(1.5)
    machine.run("service uwsgi reload")
    answers = site.finish(loading)
    assert set(answers["codes"]) == {"200"} and not answers["errors"] and answers["codes"]["200"] > 50, answers
    assert not app_workers(machine).keys() & before.keys(), "the reload replaced the workers"


def check_trusted_proxy(machine, prefix):
    """8. Behind one trusted TLS proxy the app sees https and the proxy's client; cookies are Secure.

    By default only For and Proto are trusted: a Host or Prefix the proxy passes
    on from the client never chooses the app's links.
    """
    machine.run("sed -i 's/^trusted-proxies = .*/trusted-proxies = 1/' /etc/subsite/subsite.ini"
                " && service uwsgi restart")
    try:
        forged = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7",
                  "X-Forwarded-Host": "evil.test", "X-Forwarded-Prefix": "/evil"}
        seen = Browser(machine, headers=forged).get(f"{prefix}/_health").json()
        assert seen["script_root"] == prefix
        browser = Browser(machine, headers=forged)
        assert browser.login(prefix, PASSWORD).status == 303
        seen = browser.get(f"{prefix}/admin/diagnostics?format=json").json()
        assert seen["scheme"] == "https" and seen["remote_addr"] == "198.51.100.7"
        assert seen["host"] == "localhost" and seen["script_root"] == f"{prefix}/admin", seen
        machine.run("sed -i 's/^trusted-headers = .*/trusted-headers = for, proto, host, port/'"
                    " /etc/subsite/subsite.ini && service uwsgi restart")
        proxy = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7",
                 "X-Forwarded-Host": "board.example", "X-Forwarded-Port": "443"}
        browser = Browser(machine, headers=proxy)
        login = browser.login(prefix, PASSWORD, next_url=f"{prefix}/admin/diagnostics")
        assert login.status == 303
        assert relative_or_origin(login.headers["Location"], "https://board.example") == f"{prefix}/admin/diagnostics"
        cookie = browser.cookies[("subsite_admin", f"{prefix}/admin")]
        assert cookie["secure"] and cookie["httponly"] and cookie["samesite"].lower() == "lax"
        seen = browser.get(f"{prefix}/admin/diagnostics?format=json").json()
        assert seen["scheme"] == "https" and seen["remote_addr"] == "198.51.100.7"
        assert seen["url_for_external"] == f"https://board.example{prefix}/admin/diagnostics"
        assert {row["name"] for row in seen["forwarded_headers"] if row["applied"]} >= {
            "X-Forwarded-Proto", "X-Forwarded-For", "X-Forwarded-Host"}, seen["forwarded_headers"]
        # The same request without the proxy's headers is plain http from 127.0.0.1.
        browser.headers = {}
        seen = browser.get(f"{prefix}/admin/diagnostics?format=json").json()
        assert seen["scheme"] == "http" and seen["remote_addr"] == "127.0.0.1"
    finally:
        machine.run("sed -i -e 's/^trusted-proxies = .*/trusted-proxies = 0/'"
                    " -e 's/^trusted-headers = .*/trusted-headers = for, proto/' /etc/subsite/subsite.ini"
                    " && service uwsgi restart")


def check_separate_logins(machine, prefix):
    """12. The public pages set no cookie (nginx keeps them, the same for everyone); the admin's login has its own."""
    browser = Browser(machine)
    assert browser.get(f"{prefix}/").status == 200
    assert browser.get(f"{prefix}/dir/").status == 200
    assert browser.cookies == {}
    assert browser.get(f"{prefix}/admin/").status in REDIRECTS
    assert browser.login(prefix, PASSWORD).status == 303
    assert browser.get(f"{prefix}/admin/").status == 200
    front = browser.get(f"{prefix}/")
    assert front.status == 200 and "Set-Cookie" not in front.headers
    assert [name for name, _ in browser.cookies] == ["subsite_admin"]
    assert browser.logout(prefix).status == 303
    assert browser.get(f"{prefix}/admin/").status in REDIRECTS


def check_everything(machine, prefix):
    """Every case of the conformance list at ``prefix``, the service's included."""
    check_prefix(machine, prefix)
    check_separate_logins(machine, prefix)
    check_trusted_proxy(machine, prefix)
    check_restart_and_reload(machine, prefix)


def check_only_at(machine, prefix, old):
    """The app answers at ``prefix`` and no longer at ``old``."""
    check_prefix(machine, prefix)
    if old != prefix:
        status, seen = health(machine, old)
        assert status == 404 or (seen and seen["script_root"] != old), (status, seen)


def test_install_serves_under_the_default_prefix(installed):
    check_everything(installed, "/subsite")


def test_default_site_still_answers_at_root(installed):
    answer = installed.http("GET", "http://localhost/")
    assert answer.status == 200 and "Welcome to nginx" in answer.text


def test_socket_and_workers(installed):
    out = installed.run("stat -c '%U:%G %a %F' /run/uwsgi/app/subsite/socket").stdout.strip()
    assert out == "www-data:www-data 660 socket"
    # Root writes the pid file there (without systemd): the directory is root's; under systemd, systemd's.
    expected = "root:root 755" if installed.init == "systemd" else "root:www-data 2755"
    assert installed.run("stat -c '%U:%G %a' /run/uwsgi/app/subsite").stdout.strip() == expected
    expected = ["socket"] if installed.init == "systemd" else ["pid", "socket"]
    assert installed.run("ls /run/uwsgi/app/subsite/").stdout.split() == expected
    workers = app_workers(installed)
    assert workers and 0 not in workers.values(), workers


def test_the_app_runs_in_its_own_unit(installed):
    if installed.init != "systemd":
        pytest.skip("without systemd there are no units")
    status = installed.run("systemctl status --no-pager subsite.service").stdout
    assert "Active: active (running)" in status and "CGroup: /system.slice/subsite.service" in status, status
    for pid in [app_master(installed), *map(str, app_workers(installed))]:
        assert installed.run(f"cat /proc/{pid}/cgroup").stdout.strip().endswith("/system.slice/subsite.service")
    # The log reaches the journal and the app's log file.
    assert "GET /subsite/_health" in installed.run("journalctl --no-pager -u subsite.service").stdout
    assert "GET /subsite/_health" in installed.run("cat /var/log/uwsgi/app/subsite.log").stdout


def master_catches_sigchld(machine):
    caught = machine.run(f"grep '^SigCgt:' /proc/{app_master(machine)}/status").stdout.split()[1]
    return bool(int(caught, 16) & (1 << (signal.SIGCHLD - 1)))


def test_the_master_is_woken_by_a_worker_exit(installed):
    # wsgi.wake_master_on_worker_exit: with a SIGCHLD handler, a stop, restart
    # or reload waits for the workers, not for uWSGI's once-a-second check.
    assert master_catches_sigchld(installed)
    installed.run("service uwsgi reload subsite >/dev/null")   # the master execs itself again
    installed.wait_http("http://localhost/subsite/_health", timeout=30)
    assert master_catches_sigchld(installed)


def test_a_get_the_app_dropped_is_retried_once(installed):
    # A worker killed mid-request resets nginx's connection, as a worker ended
    # by a graceful reload sometimes does: nginx passes the GET once more.
    installed.run("sed -i 's/^test-endpoints = .*/test-endpoints = yes/' /etc/subsite/subsite.ini"
                  " && service uwsgi restart")
    try:
        with ThreadPoolExecutor(1) as pool:
            slow = pool.submit(installed.http, "GET", "http://localhost/subsite/_test/sleep?seconds=2", timeout=30)
            time.sleep(1)
            # Stop them all before killing any: killed one by one, a worker
            # not yet killed could take nginx's retry and die with it.
            workers = " ".join(map(str, app_workers(installed)))
            installed.run(f"kill -STOP {workers} && kill -KILL {workers}")
            answer = slow.result()
        assert answer.status == 200, (answer.status, answer.text[:300])
        log = installed.run("tail -n 20 /var/log/nginx/error.log").stdout
        assert "while reading response header from upstream" in log
    finally:
        installed.run("sed -i 's/^test-endpoints = .*/test-endpoints = no/' /etc/subsite/subsite.ini"
                      " && service uwsgi restart")


def test_secret_and_check(installed):
    out = installed.run("stat -c '%U:%G %a' /etc/subsite/secret-key /etc/subsite/admin-password").stdout
    assert out.split("\n")[:2] == ["root:www-data 640", "root:www-data 640"]
    check = installed.run("subsite check")
    assert "Verdict: all checks passed." in check.stdout


def test_www_data_cannot_touch_roots_files(installed):
    # SQLite needs the database's directory writable by www-data (sticky, so
    # root's files there stay root's); what nginx's root master loads lives apart.
    out = installed.run("stat -c '%U:%G %a' /var/lib/subsite /var/lib/subsite-nginx").stdout.split("\n")
    assert out[:2] == ["root:www-data 1770", "root:root 755"]
    assert installed.run("test -e /var/lib/subsite/nginx", check=False).returncode != 0
    assert "include /var/lib/subsite-nginx/upstream.con[f];" in installed.run("cat /etc/nginx/conf.d/subsite.conf").stdout
    as_www = "runuser -u www-data -- "
    for attempt in ("touch /var/lib/subsite-nginx/upstream-x.conf", "rm -f /var/lib/subsite-nginx/debconf-prefix",
                    "touch /var/lib/subsite-nginx/locations.conf", "mkdir /run/uwsgi/app/subsite/x"):
        assert installed.run(as_www + attempt, check=False).returncode != 0, attempt
    # A link www-data puts in place of its uploads directory is refused, not followed.
    installed.run("mkdir -m 700 /root/private && " + as_www + "sh -c 'cd /var/lib/subsite"
                  " && mv uploads uploads.real && ln -s /root/private uploads'")
    done = installed.run("dpkg-reconfigure -f noninteractive subsite", check=False)
    assert done.returncode != 0 and "uploads = /var/lib/subsite/uploads is refused: it leads to /root/private" \
        in done.stderr, done.stderr
    assert installed.run("stat -c '%U %a' /root/private").stdout.strip() == "root 700"
    installed.run(as_www + "sh -c 'cd /var/lib/subsite && rm uploads && mv uploads.real uploads'"
                  " && dpkg-reconfigure -f noninteractive subsite")
    assert health(installed, "/subsite")[0] == 200


def test_a_tcp_socket_from_the_settings(installed):
    # The socket is configuration: nginx's upstream and uWSGI both follow it.
    installed.run("sed -i 's|^socket = .*|socket = 127.0.0.1:3031|' /etc/subsite/subsite.ini && service uwsgi restart")
    try:
        assert "127.0.0.1:3031" in installed.run("cat /var/lib/subsite-nginx/upstream.conf").stdout
        assert health(installed, "/subsite")[0] == 200
    finally:
        installed.run("sed -i 's|^socket = .*|socket = /run/uwsgi/app/subsite/socket|' /etc/subsite/subsite.ini"
                      " && service uwsgi restart")
    assert "unix:/run/uwsgi/app/subsite/socket" in installed.run("cat /var/lib/subsite-nginx/upstream.conf").stdout
    assert health(installed, "/subsite")[0] == 200


def test_backup_and_restore_while_the_app_runs(installed):
    def front():
        return installed.http("GET", "http://localhost/subsite/").text

    out = installed.run("subsite backup /root/board.db").stdout
    assert re.search(r"Backed up /var/lib/subsite/subsite.db to /root/board.db \(\d+ posts\)", out), out
    seed_posts(installed, 1)  # as www-data, like the admin's writes
    assert "Notice 1" in front()
    out = installed.run("subsite restore /root/board.db").stdout
    assert "The posts it replaced are kept in /var/lib/subsite/subsite.db.before-restore-" in out
    # The workers serve the restored posts at once and can still write.
    assert "Notice 1" not in front()
    seed_posts(installed, 1)
    assert "Notice 1" in front()
    assert "Verdict: all checks passed." in installed.run("subsite check").stdout


def test_non_80_port(installed):
    installed.run("sed -i 's/^\\tlisten 80;/\\tlisten 80;\\n\\tlisten 8080;/' /etc/nginx/sites-available/subsite"
                  " && nginx -t && service nginx reload")
    check_prefix(installed, "/subsite", origin="http://localhost:8080")


def test_hand_edit_and_restart(installed):
    installed.run("sed -i 's|^prefix = .*|prefix = /a/b/|' /etc/subsite/subsite.ini && service uwsgi restart")
    check_only_at(installed, "/a/b", "/subsite")
    check_prefix(installed, "/a/b", origin="http://localhost:8080")
    check_everything(installed, "/a/b")
    assert installed.run("subsite prefix").stdout.split("\n")[0] == "/a/b"


def test_subsite_prefix_command_to_root(installed):
    installed.run("subsite prefix ''")
    check_only_at(installed, "", "/a/b")
    check_prefix(installed, "", origin="http://localhost:8080")
    check_everything(installed, "")
    assert installed.run("subsite check").returncode == 0


def test_dpkg_reconfigure_with_preseed(installed):
    installed.run("echo 'subsite subsite/prefix string /board' | debconf-set-selections"
                  " && dpkg-reconfigure -f noninteractive subsite")
    check_only_at(installed, "/board", "")
    assert "prefix = /board" in installed.run("cat /etc/subsite/subsite.ini").stdout
    # A hand edit is read back into debconf.
    installed.run("sed -i 's|^prefix = .*|prefix = /subsite|' /etc/subsite/subsite.ini && service uwsgi restart"
                  " && dpkg-reconfigure -f noninteractive subsite")
    assert installed.run("debconf-show subsite").stdout.strip().endswith("/subsite")
    check_only_at(installed, "/subsite", "/board")


REFUSED = ["board", "/a/../b", "/a/./b", "/a//b", "/a b", "/a?b", "/a#b", "/a%20b", "/a'b", '/a"b', "/a;b",
           "/a{b}", "/a\tb", "/caf\u00e9", "/static", "/x/uploads", "/" + "a" * 200]


@pytest.mark.parametrize("bad", REFUSED, ids=repr)
def test_refused_prefix_changes_nothing(installed, bad):
    before = installed.run("cat /etc/subsite/subsite.ini").stdout
    quoted = bad.replace("'", "'\\''")
    done = installed.run(f"subsite prefix '{quoted}'", check=False)
    assert done.returncode == 1 and "refused" in done.stderr
    assert installed.run("cat /etc/subsite/subsite.ini").stdout == before
    assert health(installed, "/subsite")[0] == 200


def test_prefix_move_that_nginx_refuses_rolls_back(installed):
    # The admin's server block already has a location at /taken/: nginx -t
    # refuses a second one, so the app cannot start there.
    site = "/etc/nginx/sites-available/subsite"
    installed.run(f"cp {site} /root/site.orig && sed -i 's|^\\tinclude snippets/subsite.conf;|"
                  f"\\tlocation /taken/ {{ return 204; }}\\n&|' {site} && nginx -t && service nginx reload")
    try:
        before = installed.run("cat /etc/subsite/subsite.ini").stdout
        moved = installed.run("subsite prefix /taken", check=False)
        assert moved.returncode == 1, moved
        assert "moving to /taken failed" in moved.stderr and "The old prefix is back in force." in moved.stderr
        assert installed.run("cat /etc/subsite/subsite.ini").stdout == before
        assert health(installed, "/subsite")[0] == 200
        assert installed.http("GET", "http://localhost/taken/").status == 204
        installed.run("nginx -t")
    finally:
        installed.run(f"cp /root/site.orig {site} && service nginx reload")


def test_invalid_hand_edit_fails_loudly(installed):
    installed.run("sed -i 's|^prefix = .*|prefix = /a b|' /etc/subsite/subsite.ini")
    restart = installed.run("script -qec 'service uwsgi restart' /dev/null", check=False)
    if installed.init == "systemd":
        # systemctl reports only uwsgi.service's own job: subsite's refusal is in its journal.
        deadline = time.monotonic() + 15
        while "contains a space" not in (journal := installed.run("journalctl --no-pager -u subsite.service").stdout):
            assert time.monotonic() < deadline, journal[-2000:]
            time.sleep(0.5)
        assert "/etc/subsite/subsite.ini:" in journal
        status = installed.run("systemctl status --no-pager subsite.service", check=False).stdout
        assert "Active: failed" in status or "activating (auto-restart)" in status, status
    else:
        # On a terminal (script(1) gives it one), the admin reads why at once.
        assert restart.returncode != 0
        assert "/etc/subsite/subsite.ini:" in restart.stdout and "contains a space" in restart.stdout
    log = installed.run("tail -n 5 /var/log/uwsgi/app/subsite.log").stdout
    assert "/etc/subsite/subsite.ini:" in log and "contains a space" in log
    check = installed.run("subsite check", check=False)
    assert check.returncode == 1 and "contains a space" in check.stdout
    assert installed.http("GET", "http://localhost/").status == 200   # other sites keep working
    installed.run("sed -i 's|^prefix = .*|prefix = /subsite|' /etc/subsite/subsite.ini && service uwsgi restart")
    assert health(installed, "/subsite")[0] == 200


# A second deployment of the same venv at /b, next to the package's at /a:
# its own settings, data, uWSGI app and nginx location, as an admin would add it.
SECOND_DEPLOYMENT = r"""
set -e
mkdir -p /etc/subsite-b /var/lib/subsite-b/uploads
chown -R www-data:www-data /var/lib/subsite-b
sed -e 's|^prefix = .*|prefix = /b|' -e 's|^database = .*|database = /var/lib/subsite-b/subsite.db|' \
    -e 's|^uploads = .*|uploads = /var/lib/subsite-b/uploads|' /etc/subsite/subsite.ini > /etc/subsite-b/subsite.ini
cat > /etc/uwsgi/apps-enabled/subsite-b.ini <<'END'
[uwsgi]
plugins = python3
virtualenv = /opt/venvs/subsite
env = SUBSITE_SETTINGS=/etc/subsite-b/subsite.ini
mount = /b=subsite.wsgi:application
manage-script-name = true
need-app = true
chown-socket = www-data:www-data
workers = 1
END
cat > /etc/nginx/snippets/subsite-b.conf <<'END'
location /b/ {
	include uwsgi_params;
	uwsgi_pass unix:/run/uwsgi/app/subsite-b/socket;
}
END
sed -i 's|^\tinclude snippets/subsite.conf;|&\n\tinclude snippets/subsite-b.conf;|' /etc/nginx/sites-available/subsite
service uwsgi restart
nginx -t
service nginx reload
"""


def test_two_deployments_on_one_domain_keep_their_logins(installed):
    installed.run("subsite prefix /a")
    installed.run(SECOND_DEPLOYMENT)
    installed.wait_http("http://localhost/b/_health")
    browser = Browser(installed)
    for prefix in ("/a", "/b"):
        assert browser.get(f"{prefix}/").status == 200
    assert browser.cookies == {}, "no public page sets a cookie"
    assert browser.login("/a", PASSWORD).status == 303
    assert browser.get("/b/admin/").status in REDIRECTS, "/a's login is not sent to /b"
    assert browser.login("/b", PASSWORD).status == 303
    assert browser.get("/a/admin/").status == 200 and browser.get("/b/admin/").status == 200
    assert browser.logout("/b").status == 303
    assert browser.get("/a/admin/").status == 200, "logging out of /b keeps /a's login"
    assert browser.get("/b/admin/").status in REDIRECTS
