"""The package's life on one machine, from the released 1.0.0 on: upgrade, trigger, reboot, remove, purge.

The local repository holds this build and release 1.0.0 (``previous_debs``,
built from the v1.0.0 commit). Another uWSGI app, the admin's own, runs beside
subsite from the start: none of subsite's steps may restart or reload it. The
tests run in order on one machine (systemd, or without): install 1.0.0 and
fill it with data and admin edits, upgrade as unattended-upgrades does (a
oneshot unit under systemd; --force-confdef --force-confold), reinstall the
interpreter, move the prefix from a oneshot unit, reboot, remove, install
again, purge.
"""

import re
import shlex
import time

import pytest

from browser import Browser, png_bytes
import releases
from conftest import (MACHINES, add_neighbour, app_master, app_workers, deb_version, neighbour,
                      require_namespaces, split, suite_debs)
from machine import Machine

PASSWORD = "lifecycle password"
PREFIX = "/board"
UWSGI_INI = "/etc/uwsgi/apps-available/subsite.ini"
NGINX_SITE = "/etc/nginx/sites-available/subsite"
ADMIN_NOTE = "# the admin's own note"
APT = "apt-get install -q -y"
# What unattended-upgrades passes: keep an edited conffile, take an unedited one.
CONF = "-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold"

# What purge may leave: files that change whatever is installed, or that
# belong to the dependencies (which stay installed).
# (systemd's: the journal, the private /tmp of other services; subsite's own would name it.)
NOT_OURS = re.compile(r"^/(var/(cache|log/(apt|dpkg\.log|nginx/|alternatives\.log|journal/)|lib/(apt|dpkg|nginx|ucf"
                      r"|systemd/(deb-systemd-helper-enabled|timers|catalog)|private)/|backups"
                      r"|tmp/systemd-private-[0-9a-f]+-(?!subsite)[^/]+)|etc/ld\.so\.cache)")

class State:
    """What the tests carry from one step to the next."""
    snapshot: set = set()
    post_url = ""
    title = "Written before the upgrade"
    neighbour = None


@pytest.fixture(scope="module", params=MACHINES)
def box(request):
    """A machine whose repository holds this build and, on bookworm, release 1.0.0 (the release
    before this one; trixie had none: test_release_upgrade brings a bookworm server there)."""
    require_namespaces()
    suite, init = split(request.param)
    debs = suite_debs(suite)
    previous = releases.previous_debs() if suite == "bookworm" else []
    m = Machine.create(debs=[*debs, *previous], download=["subsite", python_minimal(suite)],
                       init=init, suite=suite)
    m.current = deb_version(debs[0])
    m.previous = deb_version(previous[0]) if previous else None
    yield m
    m.shutdown()


def python_minimal(suite):
    """The package of the python3.X the venv runs on in ``suite`` (its reinstall fires the trigger)."""
    return {"bookworm": "python3.11-minimal", "trixie": "python3.13-minimal"}[suite]


def files(m):
    """Every path in the machine's own filesystem, outside /proc, /dev, /run, /tmp and /srv."""
    out = m.run("find / -xdev \\( -path /srv -o -path /tmp \\) -prune -o -print").stdout
    return set(out.splitlines())


def installed_version(m):
    return m.run("dpkg-query -W -f '${Version}' subsite").stdout


def neighbour_untouched(m):
    assert neighbour(m) == State.neighbour, "subsite restarted or reloaded the other uWSGI app"


def app_in_its_unit(m):
    """Under systemd, every uWSGI process of subsite is in subsite.service's cgroup."""
    if m.init != "systemd":
        return
    for pid in [app_master(m), *map(str, app_workers(m))]:
        cgroup = m.run(f"cat /proc/{pid}/cgroup").stdout.strip()
        assert cgroup.endswith("/system.slice/subsite.service"), (pid, cgroup)
    strays = [cmd for pid, cmd in m.processes() if "subsite.ini" in cmd and str(pid) != app_master(m)
              and pid not in app_workers(m)]
    assert not strays, strays


def serves_the_data(m):
    """The post, its image, the password and the prefix are all still there."""
    browser = Browser(m)
    m.wait_http(f"http://localhost{PREFIX}/_health")
    page = browser.get(State.post_url)
    assert page.status == 200 and State.title in page.text
    image = re.search(r'src="([^"]*/uploads/[^"]+)"', page.text).group(1)
    assert browser.get(image).body == png_bytes()
    assert browser.login(PREFIX, PASSWORD).status == 303
    assert browser.get(f"{PREFIX}/admin/").status == 200
    assert "prefix = /board" in m.run("cat /etc/subsite/subsite.ini").stdout


def test_the_first_release_installs_and_holds_data_beside_another_app(box):
    # The package's dependencies first: purge leaves them, and only them, installed.
    # (libpq5: this release's PostgreSQL driver loads it.)
    box.run(f"{APT} nginx uwsgi uwsgi-plugin-python3 libpq5 "
            f"{python_minimal(box.suite).removesuffix('-minimal')}")
    add_neighbour(box)
    State.neighbour = neighbour(box)
    State.snapshot = files(box)
    first = box.previous or box.current
    box.install(f"subsite={first}")
    assert installed_version(box) == first
    neighbour_untouched(box)
    box.run("subsite password", input=PASSWORD + "\n")
    box.run(f"subsite prefix {PREFIX}")
    browser = Browser(box)
    browser.login(PREFIX, PASSWORD)
    token = browser.csrf(f"{PREFIX}/admin/posts/new")
    created = browser.post(f"{PREFIX}/admin/posts/new", {"csrf_token": token, "title": State.title,
                                                         "body": "Kept across upgrades."},
                           files={"image": ("dot.png", png_bytes(), "image/png")})
    assert created.status == 303
    State.post_url = created.headers["Location"]
    serves_the_data(box)
    neighbour_untouched(box)


def test_upgrade_as_unattended_upgrades_does_keeps_data_and_edits(box):
    if box.previous is None:
        pytest.skip(f"no earlier release for {box.suite}")
    # The admin edited a conffile this release changed, and one it did not.
    box.run(f"sed -i 's/^workers = .*/workers = 5/' {UWSGI_INI} && echo {shlex.quote(ADMIN_NOTE)} >> {NGINX_SITE}")
    done = box.oneshot(f"{APT} {CONF} subsite")
    assert "subsite: warning" not in done.stdout + done.stderr, done.stdout + done.stderr
    assert installed_version(box) == box.current
    assert "workers = 5" in box.run(f"cat {UWSGI_INI}").stdout
    new_default = box.run(f"cat {UWSGI_INI}.dpkg-dist").stdout
    assert "workers = 5" not in new_default and "exec:///usr/sbin/subsite uwsgi-config" in new_default
    assert ADMIN_NOTE in box.run(f"cat {NGINX_SITE}").stdout
    # Unedited conffiles follow the package, silently: nginx finds the generated files in their new place.
    assert "/var/lib/subsite-nginx/" in box.run("cat /etc/nginx/conf.d/subsite.conf /etc/nginx/snippets/subsite.conf").stdout
    assert box.run("test -e /var/lib/subsite/nginx", check=False).returncode != 0
    serves_the_data(box)
    assert len(app_workers(box)) == 5, "the admin's workers = 5 is in force"
    app_in_its_unit(box)
    neighbour_untouched(box)
    assert "Verdict: all checks passed." in box.run("subsite check").stdout


def test_interpreter_reinstall_reloads_the_app_alone(box):
    before = app_workers(box)
    done = box.run(f"apt-get install -q -y --reinstall {python_minimal(box.suite)}")
    assert "Processing triggers for subsite" in done.stdout
    box.wait_http(f"http://localhost{PREFIX}/_health")
    after = app_workers(box)
    assert after and not after.keys() & before.keys(), "the workers were replaced"
    serves_the_data(box)
    app_in_its_unit(box)
    neighbour_untouched(box)


def test_prefix_moves_from_a_oneshot_unit_and_dpkg_reconfigure(box):
    # As cron or Ansible run it: under systemd, whatever the unit started outside
    # a unit of its own dies with it. The app must still answer afterwards.
    box.oneshot("subsite prefix /moved")
    time.sleep(5)
    assert box.http("GET", "http://localhost/moved/_health").status == 200
    app_in_its_unit(box)
    box.run("echo 'subsite subsite/prefix string /reconfigured' | debconf-set-selections"
            " && dpkg-reconfigure -f noninteractive subsite")
    assert box.http("GET", "http://localhost/reconfigured/_health").status == 200
    app_in_its_unit(box)
    box.run(f"subsite prefix {PREFIX}")
    serves_the_data(box)
    app_in_its_unit(box)
    neighbour_untouched(box)


def test_a_reboot_brings_everything_back(box):
    if box.init != "systemd":
        pytest.skip("a machine without systemd has no boot to test")
    box.reboot()
    serves_the_data(box)
    app_in_its_unit(box)
    State.neighbour = neighbour(box)      # booted afresh, as everything else


OWN_SERVER = "/etc/nginx/sites-enabled/own"


def test_a_site_the_admin_disabled_stays_disabled(box):
    # README: serve subsite from your own server block instead of the package's site.
    box.run(f"rm /etc/nginx/sites-enabled/subsite && printf '%s\\n' 'server {{' 'listen 8081;'"
            f" 'include snippets/subsite.conf;' '}}' > {OWN_SERVER} && nginx -t && service nginx reload")
    assert box.http("GET", f"http://localhost:8081{PREFIX}/_health").status == 200
    done = box.run(f"{APT} --reinstall subsite")     # the maintainer scripts of an upgrade
    assert "subsite: warning" not in done.stdout + done.stderr, done.stdout + done.stderr
    assert box.run("test -e /etc/nginx/sites-enabled/subsite", check=False).returncode != 0
    assert box.http("GET", f"http://localhost{PREFIX}/_health").status == 404
    # `subsite prefix` cannot ask the admin's server; it moves the app and says so.
    out = box.run("subsite prefix /moved").stdout
    assert "was not checked through nginx" in out, out
    box.wait_http("http://localhost:8081/moved/_health")
    check = box.run("subsite check").stdout       # exits 0: nothing failed
    assert "[SKIP] nginx site: /etc/nginx/sites-enabled/subsite is disabled" in check, check
    assert "[FAIL]" not in check and "through nginx" not in check and "some were skipped" in check, check
    box.run(f"subsite prefix {PREFIX} && rm {OWN_SERVER} && ln -s ../sites-available/subsite"
            " /etc/nginx/sites-enabled/subsite && service nginx reload")
    serves_the_data(box)
    neighbour_untouched(box)


def test_remove_keeps_settings_and_data_and_disables_the_app(box):
    box.run("apt-get remove -q -y subsite")
    assert box.run("dpkg-query -W -f '${Status}' subsite").stdout == "deinstall ok config-files"
    for kept in ("/etc/subsite/subsite.ini", "/etc/subsite/secret-key", "/etc/subsite/admin-password",
                 "/var/lib/subsite/subsite.db", UWSGI_INI):
        box.run(f"test -e {kept}")
    for gone in ("/etc/uwsgi/apps-enabled/subsite.ini", "/etc/nginx/sites-enabled/subsite", "/opt/venvs/subsite"):
        assert box.run(f"test -e {gone}", check=False).returncode != 0, gone
    assert not [cmd for _, cmd in box.processes() if "uwsgi" in cmd and "subsite" in cmd]
    if box.init == "systemd":
        assert box.run("systemctl is-active subsite.socket subsite.service", check=False).stdout.split() == [
            "inactive", "inactive"]
    box.run("nginx -t")
    assert box.http("GET", "http://localhost/").status == 200            # nginx serves other sites
    assert box.http("GET", f"http://localhost{PREFIX}/_health").status == 404
    neighbour_untouched(box)


def test_install_after_remove_finds_everything(box):
    done = box.install("subsite")
    assert "subsite: warning" not in done.stdout + done.stderr, done.stdout + done.stderr
    serves_the_data(box)
    app_in_its_unit(box)
    neighbour_untouched(box)


def test_purge_leaves_nothing(box):
    box.run("apt-get purge -q -y subsite")
    assert box.run("dpkg-query -W -f '${Status}' subsite", check=False).stdout in ("", "unknown ok not-installed")
    left = sorted(p for p in files(box) - State.snapshot if not NOT_OURS.match(p))
    assert left == []
    assert not box.run("find / -xdev -path /srv -prune -o -name '*subsite*' -print").stdout
    assert box.run("debconf-show subsite").stdout == ""
    box.run("nginx -t")
    assert box.http("GET", "http://localhost/").status == 200
    neighbour_untouched(box)
