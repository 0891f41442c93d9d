"""Fixtures for install tests: the built .debs and a booted Machine holding them.

Every test under tests/install is marked ``install``, and runs with Debian's
link-protection sysctls set (machine.debian_kernel_defaults), as on a server.
The ``machine`` fixture is parametrized by init system: each module runs on a
root that boots systemd (as a server) and on one without (as a container).
Environment:
  SUBSITE_INITS          comma-separated init systems to run on (default: systemd,sysv)
  SUBSITE_DEBS           colon-separated .deb files (wins over the directory)
  SUBSITE_DEB_DIR        directory of .debs (default: <repo>/build/debs)
  SUBSITE_MACHINE_SCOPE  scope of the ``machine`` fixture: module (default) or session
  SUBSITE_MACHINE_TMPDIR where machine roots are unpacked (default: /dev/shm if usable)
  SUBSITE_PREVIOUS_DEB_DIR  an older release's .debs (default: built once per session)
"""

import os
import re
import shutil
import sys
from pathlib import Path

import pytest

import machine as machine_mod
from machine import INITS, REPO_DIR, Machine, debian_kernel_defaults, sh

sys.path.insert(0, str(REPO_DIR / "scripts"))
import releases  # noqa: E402

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.install)


def inits():
    """The init systems the install tests run on ($SUBSITE_INITS)."""
    wanted = [name.strip() for name in os.environ.get("SUBSITE_INITS", ",".join(INITS)).split(",") if name.strip()]
    unknown = [name for name in wanted if name not in INITS]
    if unknown:
        raise ValueError(f"SUBSITE_INITS: unknown init system(s) {unknown}; known: {', '.join(INITS)}")
    return wanted


@pytest.fixture(scope="session", autouse=True)
def kernel_defaults_of_a_debian_server():
    """fs.protected_* as procps sets them on Debian, for the install tests (put back after)."""
    if os.geteuid() != 0:
        yield
        return
    with debian_kernel_defaults():
        yield


def require_namespaces():
    """Skip unless we can build and boot machines (root, unshare, nsenter, tar)."""
    if os.geteuid() != 0:
        pytest.skip("install tests need root (unshare, mount, chroot)")
    missing = [t for t in ("unshare", "nsenter", "tar", "chroot", "mount")
               if not shutil.which(t, path="/usr/sbin:/usr/bin:/sbin:/bin")]
    if missing:
        pytest.skip(f"install tests need {', '.join(missing)} (apt-get install util-linux tar coreutils)")


@pytest.fixture(scope="session")
def debs():
    """The built .deb files: $SUBSITE_DEBS, else *.deb in $SUBSITE_DEB_DIR (default build/debs)."""
    if os.environ.get("SUBSITE_DEBS"):
        files = [Path(p) for p in os.environ["SUBSITE_DEBS"].split(":") if p]
        missing = [str(p) for p in files if not p.is_file()]
        if missing:
            pytest.fail(f"SUBSITE_DEBS names missing files: {missing}")
        return files
    deb_dir = Path(os.environ.get("SUBSITE_DEB_DIR", REPO_DIR / "build" / "debs"))
    files = sorted(deb_dir.glob("*.deb"))
    if not files:
        pytest.skip(f"no .deb in {deb_dir}: build the package first "
                    "(or set SUBSITE_DEB_DIR / SUBSITE_DEBS)")
    return files


def app_master(machine):
    """The pid of the app's uWSGI master (inside the machine): its unit's main pid, or its pid file."""
    if machine.init == "systemd":
        pid = machine.run("systemctl show --property=MainPID --value subsite.service").stdout.strip()
        assert pid not in ("", "0"), "subsite.service has no main process"
        return pid
    return machine.run("cat /run/uwsgi/app/subsite/pid").stdout.strip()


def app_workers(machine):
    """{pid: uid} of the app's uWSGI workers (the children of its master), pids as seen inside."""
    master = app_master(machine)
    found = machine.run(f"grep -l '^PPid:[[:space:]]*{master}$' /proc/[0-9]*/status | xargs -r grep -H '^Uid:'",
                        check=False).stdout
    return {int(pid): int(uid) for pid, uid in re.findall(r"/proc/(\d+)/status:Uid:\s+(\d+)", found)}


def deb_version(deb):
    return sh(["dpkg-deb", "--field", str(deb), "Version"]).stdout.strip()


@pytest.fixture(scope="session")
def previous_debs(debs):
    """The previous release's .debs (scripts/releases.py: 1.0.0, built from its own commit),
    or those in $SUBSITE_PREVIOUS_DEB_DIR."""
    if os.environ.get("SUBSITE_PREVIOUS_DEB_DIR"):
        files = sorted(Path(os.environ["SUBSITE_PREVIOUS_DEB_DIR"]).glob("*.deb"))
        if not files:
            pytest.fail(f"no .deb in SUBSITE_PREVIOUS_DEB_DIR={os.environ['SUBSITE_PREVIOUS_DEB_DIR']}")
        return files
    return releases.previous_debs()


def _machine_scope(fixture_name, config):
    scope = os.environ.get("SUBSITE_MACHINE_SCOPE", "module")
    if scope not in ("module", "session"):
        raise ValueError(f"SUBSITE_MACHINE_SCOPE must be module or session, not {scope!r}")
    return scope


@pytest.fixture(scope=_machine_scope, params=inits())
def machine(request, debs):
    """A booted Machine (systemd, or without) whose /srv/repo holds ``debs`` and whose
    apt cache holds everything needed to install them offline (``machine.install("subsite")``)."""
    require_namespaces()
    m = Machine.create(debs=debs, init=request.param)
    yield m
    m.shutdown()


def pytest_terminal_summary(terminalreporter):
    if machine_mod.TIMINGS:
        terminalreporter.section("install machine timings")
        for label, seconds in machine_mod.TIMINGS:
            terminalreporter.write_line(f"{seconds:8.2f}s  {label}")


# The admin's own uWSGI app beside subsite, run by Debian's init script (under
# systemd, by uwsgi.service): nothing subsite does may restart or reload it.
NEIGHBOUR = r"""
set -e
mkdir -p /srv/neighbour
printf '%s\n' 'def application(environ, start_response):' \
    '    start_response("200 OK", [("Content-Type", "text/plain")])' '    return [b"neighbour\n"]' \
    > /srv/neighbour/app.py
printf '%s\n' '[uwsgi]' 'plugins = python3' 'wsgi-file = /srv/neighbour/app.py' 'workers = 2' \
    > /etc/uwsgi/apps-available/neighbour.ini
ln -s ../apps-available/neighbour.ini /etc/uwsgi/apps-enabled/neighbour.ini
service uwsgi restart
"""


def add_neighbour(machine):
    """Start another uWSGI app on ``machine`` (uwsgi and its python3 plugin installed)."""
    machine.run(NEIGHBOUR)


def neighbour(machine):
    """The neighbour app's master pid and worker pids: a restart changes the first, a reload the second."""
    master = machine.run("cat /run/uwsgi/app/neighbour/pid").stdout.strip()
    workers = machine.run(f"grep -l '^PPid:[[:space:]]*{master}$' /proc/[0-9]*/status", check=False).stdout.split()
    return master, sorted(workers)
