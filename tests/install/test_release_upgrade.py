"""Debian 12 to 13 with subsite installed and used: the path every user of the package takes once.

A bookworm root booting systemd gets subsite's bookworm build, a non-default
prefix, posts with an image, a password, a hand-edited conffile and another
uWSGI app. Then the release notes' steps: sources switched to trixie
(Debian's, and the repository subsite came from, to its trixie build),
`apt upgrade --without-new-pkgs`, `apt full-upgrade`, reboot. The machine has
no network: Debian's trixie is a local mirror of exactly what the upgrade
needs, downloaded beforehand (machine.add_release_mirror).
"""

import re

import pytest

from browser import Browser, png_bytes
from conftest import add_neighbour, app_master, app_workers, deb_version, require_namespaces, suite_debs
from machine import Machine

PREFIX = "/notices"
PASSWORD = "release upgrade password"
UWSGI_INI = "/etc/uwsgi/apps-available/subsite.ini"
APT = "DEBIAN_FRONTEND=noninteractive apt-get -q -y -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold"
# What the release upgrade must carry over.
PACKAGES = ["nginx", "uwsgi", "uwsgi-plugin-python3", "subsite"]
TRIXIE_SOURCES = "deb [trusted=yes] file:/srv/mirror/trixie ./\n"


class Used:
    """What was put on the bookworm server, to find after the upgrade."""
    posts: dict = {}
    image = ""


@pytest.fixture(scope="module")
def server():
    """A bookworm root booting systemd, with the trixie mirror and subsite's trixie build on board."""
    require_namespaces()
    debs = {suite: suite_debs(suite) for suite in ("bookworm", "trixie")}
    m = Machine.create(debs=debs["bookworm"], download=PACKAGES, init="systemd", suite="bookworm", boot=False)
    try:
        m.add_release_mirror("trixie", debs["trixie"], PACKAGES)
        m.boot()
    except BaseException:
        m.shutdown()
        raise
    m.versions = {suite: deb_version(files[0]) for suite, files in debs.items()}
    yield m
    m.shutdown()


def serves_everything(m):
    """Every post, the image, the password and the prefix, through nginx."""
    m.wait_http(f"http://localhost{PREFIX}/_health", timeout=30)
    browser = Browser(m)
    for url, title in Used.posts.items():
        page = browser.get(url)
        assert page.status == 200 and title in page.text, (url, page.status)
    assert browser.get(Used.image).body == png_bytes()
    assert browser.login(PREFIX, PASSWORD).status == 303
    assert browser.get(f"{PREFIX}/admin/").status == 200


def test_a_used_bookworm_server(server):
    server.install(*PACKAGES)
    assert server.run("dpkg-query -W -f '${Version}' subsite").stdout == server.versions["bookworm"]
    add_neighbour(server)
    server.run("subsite password", input=PASSWORD + "\n")
    server.run(f"subsite prefix {PREFIX}")
    server.run(f"sed -i 's/^workers = .*/workers = 3/' {UWSGI_INI}")      # the admin's own edit
    server.run("service uwsgi restart")
    browser = Browser(server)
    assert browser.login(PREFIX, PASSWORD).status == 303
    for number in range(3):
        token = browser.csrf(f"{PREFIX}/admin/posts/new")
        title = f"Before trixie {number}"
        files = {"image": ("dot.png", png_bytes(), "image/png")} if number == 0 else None
        created = browser.post(f"{PREFIX}/admin/posts/new", {"csrf_token": token, "title": title,
                                                             "body": "Kept across the release upgrade."}, files=files)
        assert created.status == 303
        Used.posts[created.headers["Location"]] = title
    first = browser.get(next(iter(Used.posts))).text
    Used.image = re.search(r'src="([^"]*/uploads/[^"]+)"', first).group(1)
    serves_everything(server)


def test_the_release_upgrade_as_the_release_notes_say(server):
    # Sources switched to trixie: Debian's (here its local mirror) and the repository subsite came from.
    server.run(f"rm /etc/apt/sources.list.d/debian.sources && printf '{TRIXIE_SOURCES}' > /etc/apt/sources.list.d/"
               "trixie.list && sed -i 's|file:/srv/repo |file:/srv/repo-trixie |' /etc/apt/sources.list.d/local-repo.list")
    server.run("apt-get update -q")
    server.run(f"{APT} upgrade --without-new-pkgs", timeout=1800)
    done = server.run(f"{APT} full-upgrade", timeout=1800)
    assert "subsite: warning" not in done.stdout + done.stderr, done.stdout[-3000:] + done.stderr[-3000:]
    assert server.run("cat /etc/debian_version").stdout.startswith("13")
    assert server.run("dpkg-query -W -f '${Version}' subsite").stdout == server.versions["trixie"]
    server.reboot()
    serves_everything(server)


def test_after_the_reboot_the_app_runs_on_trixies_python_and_keeps_the_edit(server):
    health = server.http("GET", f"http://localhost{PREFIX}/_health").json()
    assert health["script_root"] == PREFIX
    assert "Python version: 3.13" in server.run("journalctl -b --no-pager -u subsite.service").stdout
    assert server.run("readlink -f /opt/venvs/subsite/bin/python").stdout.strip() == "/usr/bin/python3.13"
    assert "workers = 3" in server.run(f"cat {UWSGI_INI}").stdout and len(app_workers(server)) == 3
    assert server.run(f"cat /proc/{app_master(server)}/cgroup").stdout.strip().endswith("/subsite.service")
    check = server.run("subsite check")
    assert "Verdict: all checks passed." in check.stdout, check.stdout
    assert server.run("cat /run/uwsgi/app/neighbour/pid", check=False).returncode == 0, "the other app is back"


def test_no_request_ever_met_a_broken_venv(server):
    # While python3.11 went and the venv was replaced the app could be down, but
    # it never started on a venv its uWSGI cannot run: it refused instead.
    log = server.run("journalctl --no-pager -u subsite.service; cat /var/log/uwsgi/app/subsite.log").stdout
    for broken in ("ImportError", "ModuleNotFoundError", "no python application found", "Traceback"):
        assert broken not in log, log[-3000:]
