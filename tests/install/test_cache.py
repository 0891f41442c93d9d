"""nginx's page cache on a real nginx and uWSGI: fast when nothing changed, never stale.

One machine for the module (CI: trixie-systemd), the tests in order. Whether a
request reached the app is read from uWSGI's log, which has a line for each.
"""

import json
import re
import subprocess
from pathlib import Path

import pytest

from browser import Browser
from machine import CLEAN_ENV, HOST_PYTHON

PASSWORD = "correct horse battery"
PREFIX = "/subsite"
SETTINGS = "/etc/subsite/subsite.ini"
FRESHNESS = Path(__file__).with_name("freshness.py")
PUBLIC = ["/", "/dir/", "/api/posts", "/posts/{post}", "/api/posts/{post}", "/?before={post}"]


@pytest.fixture(scope="module")
def site(machine):
    """subsite installed, test-endpoints on (for ?test-set-cookie=), an admin logged in, a few posts."""
    machine.install("subsite")
    machine.run("subsite password", input=PASSWORD + "\n")
    setting(machine, "test-endpoints", "yes")
    browser = Browser(machine)
    assert browser.login(PREFIX, PASSWORD).status == 303
    site = Site(machine, browser)
    site.posts = [site.write(f"Notice {n}") for n in range(3)]
    return site


def setting(machine, key, value):
    """Set ``key`` in the settings file and restart the app, as an admin would."""
    machine.run(f"sed -i 's|^{key} = .*|{key} = {value}|' {SETTINGS} && grep -q '^{key} = {value}$' {SETTINGS}"
                " && service uwsgi restart")
    machine.wait_http(f"http://localhost{PREFIX}/_health", timeout=30)


class Site:
    def __init__(self, machine, browser):
        self.machine, self.browser, self.prefix = machine, browser, PREFIX

    def get(self, path, headers=None, method="GET", host="localhost"):
        return self.machine.http(method, f"http://{host}{self.prefix}{path}", headers=headers)

    def write(self, title):
        """Post ``title`` through the admin API; return its id."""
        token = self.browser.get(f"{self.prefix}/admin/api/csrf").json()["csrf_token"]
        answer = self.browser.request("POST", f"{self.prefix}/admin/api/posts", body=json.dumps(
            {"title": title, "body": "A notice."}), headers={"Content-Type": "application/json", "X-CSRF-Token": token})
        assert answer.status == 303, answer.text[:300]
        return answer.json()["id"]

    def form(self, path, fields):
        """POST the admin form at ``path`` with ``fields`` and its CSRF token; return the answer."""
        token = self.browser.csrf(f"{self.prefix}/admin/")
        return self.browser.post(f"{self.prefix}{path}", {"csrf_token": token, **fields})

    def reached(self, path=None):
        """How many requests (for ``path`` under the prefix, with its query) uWSGI has logged."""
        log = self.machine.run("cat /var/log/uwsgi/app/subsite.log").stdout
        targets = re.findall(r"\] (?:GET|HEAD) (\S+) =>", log)
        return len(targets) if path is None else targets.count(self.prefix + path)


def public_paths(site):
    return [path.format(post=site.posts[-1]) for path in PUBLIC]


def test_a_warm_page_is_answered_by_nginx_alone(site):
    for path in public_paths(site):
        first = site.get(path)
        assert first.status == 200, path
        before = site.reached(path)
        assert before >= 1, f"the first {path} went to the app"
        for _ in range(5):
            again = site.get(path)
            assert again.status == 200 and again.body == first.body, path
            assert "Set-Cookie" not in again.headers, path
        assert site.reached(path) == before, f"{path} was answered from nginx's cache"
        # Browsers revalidate every time (cheaply, below); only nginx keeps the page.
        assert again.headers["Cache-Control"] == "no-cache" and "X-Accel-Expires" not in again.headers


def test_a_conditional_get_gets_304_from_the_cache(site):
    for path in public_paths(site):
        page = site.get(path)
        etag = page.headers["ETag"]
        before = site.reached(path)
        for tag in (etag, f"W/{etag}"):   # a weak tag too, as after nginx's gzip
            answer = site.get(path, headers={"If-None-Match": tag})
            assert answer.status == 304 and answer.body == b"", (path, answer.status)
            assert answer.headers["ETag"] == etag
        assert site.get(path, headers={"If-None-Match": '"another"'}).status == 200
        assert site.reached(path) == before, f"{path}: revalidations are answered by nginx"


def test_head_and_get_are_kept_apart(site):
    # uWSGI answers a HEAD without a body: a GET must never be given that.
    path = "/?head-first"
    head = site.get(path, method="HEAD")
    assert head.status == 200 and head.body == b""
    get = site.get(path)
    assert get.status == 200 and len(get.body) == int(get.headers["Content-Length"]) > 0


def test_writes_are_on_the_very_next_read_of_every_page(site):
    """Several connections write and read in a tight loop: no read after an acknowledged write misses it."""
    token = site.browser.get(f"{PREFIX}/admin/api/csrf").json()["csrf_token"]
    spec = {"prefix": PREFIX, "cookie": site.browser.cookie_header(f"{PREFIX}/admin/api/posts"), "csrf": token,
            "writers": 3, "readers": 6, "seconds": 12}
    before = site.reached()
    done = subprocess.run(["nsenter", "--net", "--target", str(site.machine.pid), HOST_PYTHON, "-I", str(FRESHNESS)],
                          input=json.dumps(spec), capture_output=True, text=True, env=CLEAN_ENV, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    reads = sum(result["reads"].values())
    print(f"\nfreshness: {result['writes']} writes, {result['reads']} reads, "
          f"{site.reached() - before} requests reached the app, {result['stale']} stale, "
          f"{result['pushed_off']} fresh but with the post pushed off the page by later writes")
    assert result["stale"] == 0, result["stale_examples"]
    assert not result["errors"], result["errors"]
    assert result["writes"] >= 30 and min(result["reads"].values()) >= 30, result
    # Between writes, most reads came from the cache.
    assert site.reached() - before < reads + result["writes"], "some reads were answered by nginx"


def test_an_edit_and_a_delete_are_on_the_very_next_read(site):
    post = site.write("Before the edit")
    pages = ["/", "/dir/", "/api/posts", f"/posts/{post}", f"/api/posts/{post}"]
    for path in pages:
        assert "Before the edit" in site.get(path).text and "Before the edit" in site.get(path).text
    assert site.form(f"/admin/posts/{post}/edit", {"title": "After the edit", "body": "Edited."}).status == 303
    for path in pages:
        text = site.get(path).text
        assert "After the edit" in text and "Before the edit" not in text, path
    assert site.form(f"/admin/posts/{post}/delete", {}).status == 303
    for path in ("/", "/dir/", "/api/posts"):
        assert "After the edit" not in site.get(path).text, path
    assert site.get(f"/posts/{post}").status == 404 and site.get(f"/api/posts/{post}").status == 404


def test_an_admin_session_is_never_answered_from_the_cache_nor_kept(site):
    admin = {"Cookie": site.browser.cookie_header(f"{PREFIX}/admin/")}
    assert "subsite_admin=" in admin["Cookie"]
    site.get("/dir/")
    before = site.reached("/dir/")
    assert site.get("/dir/", headers=admin).status == 200
    assert site.reached("/dir/") == before + 1, "a request with the admin's session reached the app"
    # What it got is not kept for others: the same new URL without the session reaches the app.
    site.get("/dir/?as-admin", headers=admin)
    site.get("/dir/?as-admin")
    assert site.reached("/dir/?as-admin") == 2


def test_a_response_that_sets_a_cookie_is_never_kept(site):
    path = "/?test-set-cookie=probe"
    for count in (1, 2, 3):
        answer = site.get(path)
        assert answer.status == 200 and "probe=set-by-a-test" in answer.headers.get("Set-Cookie", "")
        assert site.reached(path) == count, "each one reached the app"
    # The pages as everyone gets them never set one.
    for path in public_paths(site):
        assert "Set-Cookie" not in site.get(path).headers


def test_the_key_separates_hosts(site):
    path = "/dir/?by-host"
    for host, count in (("localhost", 1), ("127.0.0.1", 2), ("localhost", 2), ("127.0.0.1", 2)):
        assert site.get(path, host=host).status == 200
        assert site.reached(path) == count, host


def test_the_key_separates_the_forwarded_headers_the_app_trusts(site):
    machine = site.machine
    machine.run(f"sed -i 's/^trusted-headers = .*/trusted-headers = for, proto, prefix/' {SETTINGS}")
    setting(machine, "trusted-proxies", "1")
    try:
        plain = site.get("/dir/").text
        edge = site.get("/dir/", headers={"X-Forwarded-Prefix": "/edge"}).text
        assert f'href="{PREFIX}/static/style.css"' in plain and "/edge/" not in plain
        assert 'href="/edge/static/style.css"' in edge
        assert site.get("/dir/").text == plain
        # The client's address is not in the key: no public page shows it.
        before = site.reached("/dir/")
        assert site.get("/dir/", headers={"X-Forwarded-For": "198.51.100.7"}).text == plain
        assert site.reached("/dir/") == before
    finally:
        machine.run(f"sed -i 's/^trusted-headers = .*/trusted-headers = for, proto/' {SETTINGS}")
        setting(machine, "trusted-proxies", "0")


def test_a_prefix_move_and_back_is_seen_at_once(site):
    machine = site.machine
    assert f'href="{PREFIX}/dir/"' in site.get("/").text
    machine.run("subsite prefix /elsewhere")
    try:
        moved = machine.http("GET", "http://localhost/elsewhere/")
        assert moved.status == 200 and 'href="/elsewhere/dir/"' in moved.text and f'"{PREFIX}/' not in moved.text
        assert machine.http("GET", f"http://localhost{PREFIX}/").status == 404
    finally:
        machine.run(f"subsite prefix {PREFIX}")
    back = site.get("/")
    assert back.status == 200 and f'href="{PREFIX}/dir/"' in back.text and "/elsewhere/" not in back.text


def test_a_restore_is_seen_at_once(site):
    machine = site.machine
    machine.run("rm -f /root/cache-test.db && subsite backup /root/cache-test.db")
    post = site.write("Written after the backup")
    for path in ("/", "/api/posts", f"/posts/{post}"):
        assert "Written after the backup" in site.get(path).text
    machine.run("subsite restore /root/cache-test.db")
    for path in ("/", "/api/posts"):
        assert "Written after the backup" not in site.get(path).text, path
    assert site.get(f"/posts/{post}").status == 404


def test_the_cache_is_nginx_own_and_bounded(site):
    machine = site.machine
    owner = machine.run("stat -c '%U' /var/cache/subsite-nginx").stdout.strip()
    assert owner == "www-data"
    assert machine.run("find /var/cache/subsite-nginx -type f | wc -l").stdout.strip() != "0"
    config = machine.run("nginx -T 2>/dev/null").stdout
    assert "keys_zone=subsite:8m max_size=128m inactive=10m use_temp_path=off" in config
    # The link nginx resolves for the generation: the app's (www-data), in memory at a short path.
    link = "/run/subsite/current"
    assert machine.run(f"stat -c '%U %a' /run/subsite").stdout.strip() == "www-data 755"
    assert machine.run(f"stat -c '%U %F' {link}").stdout.strip() == "www-data symbolic link"
    assert machine.run(f"stat -L -c '%U %F' {link}").stdout.strip() == "www-data directory"
    assert "open_file_cache max=1000 inactive=60s;" in config and "open_file_cache_valid 1s;" in config


def test_page_cache_no_sends_everything_to_the_app(site):
    setting(site.machine, "page-cache", "no")
    try:
        assert "cache" not in site.machine.run("ls /var/lib/subsite-nginx").stdout
        before = site.reached("/dir/")
        first = site.get("/dir/")
        again = site.get("/dir/", headers={"If-None-Match": first.headers["ETag"]})
        assert again.status == 304, "the app answers revalidations itself"
        assert site.reached("/dir/") == before + 2
    finally:
        setting(site.machine, "page-cache", "yes")
    assert "cache.conf" in site.machine.run("ls /var/lib/subsite-nginx").stdout


def test_removing_the_package_leaves_nginx_working(site):
    machine = site.machine
    machine.run("apt-mark manual nginx")     # it serves other sites too
    machine.run("apt-get remove -y -q subsite")
    assert "cache" not in machine.run("ls /var/lib/subsite-nginx").stdout
    machine.run("apt-get autoremove -y -q")
    machine.run("nginx -t -q && service nginx reload")
    assert machine.wait_http("http://localhost/").status == 200
    # Installed again, the cache is back.
    machine.install("subsite")
    assert machine.wait_http(f"http://localhost{PREFIX}/_health", timeout=30).status == 200
    page = machine.http("GET", f"http://localhost{PREFIX}/")
    assert page.status == 200 and "cache.conf" in machine.run("ls /var/lib/subsite-nginx").stdout
