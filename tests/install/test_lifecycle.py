"""The package's life on one machine: upgrade, downgrade, trigger, remove, purge.

The local repository holds this build and the previous release (``previous_debs``:
the same tree as <version>~prev1, whose uWSGI app file differs by one line, so
that conffile "changed upstream"). The tests run in order on one machine:
install the previous release and fill it with data and admin edits, upgrade with
--force-confold, go back and upgrade again with dpkg's defaults, reinstall the
interpreter, remove, install again, purge.
"""

import re
import shlex

import pytest

from browser import Browser, png_bytes
from conftest import app_workers, deb_version
from machine import Machine

PASSWORD = "lifecycle password"
PREFIX = "/board"
UWSGI_INI = "/etc/uwsgi/apps-available/subsite.ini"
NGINX_MAP = "/etc/nginx/conf.d/subsite.conf"
ADMIN_NOTE = "# the admin's own note"
APT = "apt-get install -q -y"
CONFOLD = "-o Dpkg::Options::=--force-confold"

# What purge may leave: files that change whatever is installed, or that
# belong to the dependencies (which stay installed).
NOT_OURS = re.compile(r"^/(var/(cache|log/(apt|dpkg\.log|nginx/|alternatives\.log)|lib/(apt|dpkg|nginx|ucf)/"
                      r"|backups)|etc/ld\.so\.cache)")


class State:
    """What the tests carry from one step to the next."""
    snapshot: set = set()
    post_url = ""
    title = "Written before the upgrade"


@pytest.fixture(scope="module")
def box(debs, previous_debs):
    """A machine whose repository holds this build and the previous release."""
    m = Machine.create(debs=[*debs, *previous_debs], download=["subsite", "python3.11-minimal"])
    m.current, m.previous = deb_version(debs[0]), deb_version(previous_debs[0])
    yield m
    m.shutdown()


def files(m):
    """Every path in the machine's own filesystem, outside /proc, /dev, /run, /tmp and /srv."""
    out = m.run("find / -xdev \\( -path /srv -o -path /tmp \\) -prune -o -print").stdout
    return set(out.splitlines())


def installed_version(m):
    return m.run("dpkg-query -W -f '${Version}' subsite").stdout


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


def test_previous_release_installs_and_holds_data(box):
    box.run(f"{APT} nginx uwsgi uwsgi-plugin-python3 python3.11")
    State.snapshot = files(box)
    box.install(f"subsite={box.previous}")
    assert installed_version(box) == box.previous
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


def test_upgrade_with_confold_keeps_both_edits(box):
    # One conffile the new release changed, one it did not; the admin edited both.
    box.run(f"sed -i 's/^workers = .*/workers = 5/' {UWSGI_INI} && echo {shlex.quote(ADMIN_NOTE)} >> {NGINX_MAP}")
    done = box.run(f"{APT} {CONFOLD} subsite")
    assert "subsite: warning" not in done.stdout + done.stderr, done.stdout + done.stderr
    assert installed_version(box) == box.current
    assert "workers = 5" in box.run(f"cat {UWSGI_INI}").stdout
    new_default = box.run(f"cat {UWSGI_INI}.dpkg-dist").stdout
    assert "workers = 5" not in new_default and "previous release" not in new_default
    assert ADMIN_NOTE in box.run(f"cat {NGINX_MAP}").stdout
    assert box.run(f"ls {NGINX_MAP}.dpkg-dist", check=False).returncode != 0
    serves_the_data(box)
    assert len(app_workers(box)) == 5, "the admin's workers = 5 is in force"


def test_upgrade_with_dpkg_defaults_keeps_an_edit_and_asks_nothing(box):
    # The admin takes the new uWSGI file; the nginx map keeps its edit.
    box.run(f"mv {UWSGI_INI}.dpkg-dist {UWSGI_INI}")
    box.run(f"{APT} --allow-downgrades subsite={box.previous}")
    assert "previous release" in box.run(f"cat {UWSGI_INI}").stdout, "an unedited conffile follows the package"
    serves_the_data(box)
    # stdin is /dev/null: a conffile prompt would fail this command.
    box.run(f"{APT} subsite")
    assert installed_version(box) == box.current
    assert ADMIN_NOTE in box.run(f"cat {NGINX_MAP}").stdout
    assert "previous release" not in box.run(f"cat {UWSGI_INI}").stdout
    assert not box.run("find /etc -name '*.dpkg-*'").stdout
    serves_the_data(box)


def test_interpreter_reinstall_reloads_the_app(box):
    before = app_workers(box)
    done = box.run("apt-get install -q -y --reinstall python3.11-minimal")
    assert "Processing triggers for subsite" in done.stdout
    box.wait_http(f"http://localhost{PREFIX}/_health")
    after = app_workers(box)
    assert after and not after.keys() & before.keys(), "the workers were replaced"
    serves_the_data(box)


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


def test_remove_keeps_settings_and_data_and_disables_the_app(box):
    box.run("apt-get remove -q -y subsite")
    assert box.run("dpkg-query -W -f '${Status}' subsite").stdout == "deinstall ok config-files"
    for kept in ("/etc/subsite/subsite.ini", "/etc/subsite/secret-key", "/etc/subsite/admin-password",
                 "/var/lib/subsite/subsite.db", UWSGI_INI):
        box.run(f"test -e {kept}")
    for gone in ("/etc/uwsgi/apps-enabled/subsite.ini", "/etc/nginx/sites-enabled/subsite", "/opt/venvs/subsite"):
        assert box.run(f"test -e {gone}", check=False).returncode != 0, gone
    assert not [cmd for _, cmd in box.processes() if "uwsgi" in cmd and "subsite" in cmd]
    box.run("nginx -t")
    assert box.http("GET", "http://localhost/").status == 200            # nginx serves other sites
    assert box.http("GET", f"http://localhost{PREFIX}/_health").status == 404


def test_install_after_remove_finds_everything(box):
    done = box.install("subsite")
    assert "subsite: warning" not in done.stdout + done.stderr, done.stdout + done.stderr
    serves_the_data(box)


def test_purge_leaves_nothing(box):
    box.run("apt-get purge -q -y subsite")
    assert box.run("dpkg-query -W -f '${Status}' subsite", check=False).stdout in ("", "unknown ok not-installed")
    left = sorted(p for p in files(box) - State.snapshot if not NOT_OURS.match(p))
    assert left == []
    assert not box.run("find / -xdev -path /srv -prune -o -name '*subsite*' -print").stdout
    assert box.run("debconf-show subsite").stdout == ""
    box.run("nginx -t")
    assert box.http("GET", "http://localhost/").status == 200
