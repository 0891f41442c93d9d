"""Fixtures for install tests: the built .debs and a booted Machine holding them.

Every test under tests/install is marked ``install``, and runs with Debian's
link-protection sysctls set (machine.debian_kernel_defaults), as on a server.

The machines are named <suite>-<init>: bookworm-systemd, bookworm-sysv,
trixie-systemd, trixie-sysv (systemd as PID 1, as a server; or without, as a
container). A full run (SUBSITE_FULL=1: scripts/test --full) runs every module
on each machine it applies to; CI's run takes CI_MACHINES, so that it stays
well under 20 minutes. Environment:
  SUBSITE_FULL           1: every machine, and the slow checks (see README.md)
  SUBSITE_MACHINES       comma-separated machines to run on (overrides both)
  SUBSITE_DEB_DIR        directory of a <suite>/ directory of .debs per suite (default: <repo>/build/debs)
  SUBSITE_MACHINE_SCOPE  scope of the ``machine`` fixture: module (default) or session
  SUBSITE_MACHINE_TMPDIR where machine roots are unpacked (default: /dev/shm if usable)
  SUBSITE_PREVIOUS_DEB_DIR  the previous release's .debs (default: 1.0.0, built once from its commit)
"""

import os
import re
import shutil
import sys
from pathlib import Path

import pytest

import machine as machine_mod
from machine import INITS, REPO_DIR, SUITES, Machine, debian_kernel_defaults, sh

sys.path.insert(0, str(REPO_DIR / "scripts"))
import debbuild  # noqa: E402
import releases  # noqa: E402

HERE = Path(__file__).resolve().parent
MACHINES = tuple(f"{suite}-{init}" for suite in SUITES for init in INITS)
# What CI runs of each module (a full run takes every machine), to stay well
# under 20 minutes: every conformance case on today's stable as a server
# (trixie-systemd); the life from release 1.0.0 on a bookworm server (its
# takeover under load: the full run); the soak's load, faults and hostile
# input without systemd; nginx's page cache once, on a server. The signed repository's
# refusals of forged ones run in the full run only: in CI, test_cluster's app
# hosts install from a signed repository. test_release_upgrade goes from one
# suite to the other; test_cluster is a balancer, two app hosts and PostgreSQL,
# the hosts booting systemd in CI (test_cluster_roll: from 1.0.0), without it too in the full run.
CI_MACHINES = {
    "test_deployment.py": ("trixie-systemd",),
    "test_broken_nginx.py": ("trixie-systemd",),
    "test_cache.py": ("trixie-systemd",),
    "test_publish.py": (),
    "test_lifecycle.py": ("bookworm-systemd",),
    "test_soak.py": ("bookworm-sysv",),
    "test_soak.py::test_upgrade_under_load_from_release_1_0_0": (),
    "test_cluster.py": ("bookworm-systemd",),
    "test_cluster_roll.py": ("bookworm-systemd",),
}


def full_run():
    """Tell whether this is a full run ($SUBSITE_FULL=1) rather than CI's."""
    return os.environ.get("SUBSITE_FULL") == "1"


def selected(test, name):
    """Tell whether ``test`` ("module.py::function") runs on the machine ``name`` in this run."""
    wanted = os.environ.get("SUBSITE_MACHINES")
    if wanted:
        return name in [item.strip() for item in wanted.split(",")]
    module = test.split("::")[0]
    return full_run() or name in CI_MACHINES.get(test, CI_MACHINES.get(module, MACHINES))


def split(name):
    """("bookworm", "systemd") of the machine name "bookworm-systemd"."""
    suite, init = name.split("-")
    return suite, init


def pytest_collection_modifyitems(config, items):
    kept, dropped = [], []
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.install)
        params = getattr(item, "callspec", None) and item.callspec.params.values()
        names = [value for value in params or () if value in MACHINES]
        test = f"{Path(str(item.fspath)).name}::{item.originalname}"
        if any(not selected(test, name) for name in names):
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


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


def suite_debs(suite):
    """The built .debs of ``suite`` ($SUBSITE_DEB_DIR/<suite>, default build/debs/<suite>); skip if none."""
    folder = Path(os.environ["SUBSITE_DEB_DIR"]) / suite if os.environ.get("SUBSITE_DEB_DIR") \
        else debbuild.out_dir(suite)
    files = sorted(folder.glob("*.deb"))
    if not files:
        pytest.skip(f"no .deb in {folder}: build it with scripts/build-deb --suite {suite}")
    return files


@pytest.fixture(scope="session")
def debs():
    """The bookworm .debs: the suite of the previous release and of piuparts' and the benchmark's machines."""
    return suite_debs(machine_mod.SUITE)


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


# Debian's uwsgi.service, generated from its init script, keeps systemd's default
# start limit: a sixth start within 10 s is refused ("start of the service was
# attempted too often"). The tests on one machine restart it faster than an
# admin would (on a fast machine, test_deployment's first test had one of its
# `service uwsgi restart` refused), and what they check is the app after each
# restart, not that limit; so their machines lift it for uwsgi.service alone. subsite's own units
# need no such help (debian/subsite.service, services.py).
UWSGI_DROP_IN = Path("/etc/systemd/system/uwsgi.service.d/tests-restart-often.conf")
NO_UWSGI_START_LIMIT = "[Unit]\nStartLimitIntervalSec=0\n"


@pytest.fixture(scope=_machine_scope, params=MACHINES)
def machine(request):
    """A booted Machine of one suite (systemd, or without) whose /srv/repo holds that suite's
    .debs and whose apt cache holds everything needed to install them offline
    (``machine.install("subsite")``)."""
    require_namespaces()
    suite, init = split(request.param)
    m = Machine.create(debs=suite_debs(suite), init=init, suite=suite)
    if init == "systemd":
        m.run(f"mkdir -p {UWSGI_DROP_IN.parent} && cat > {UWSGI_DROP_IN} && systemctl daemon-reload",
              input=NO_UWSGI_START_LIMIT)
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
