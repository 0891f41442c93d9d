"""Fixtures for install tests: the built .debs and a booted Machine holding them.

Every test under tests/install is marked ``install``.  Environment:
  SUBSITE_DEBS           colon-separated .deb files (wins over the directory)
  SUBSITE_DEB_DIR        directory of the .debs the machines install (default:
                         <repo>/build/debs/<the machines' suite>, see machine.SUITE)
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
from machine import REPO_DIR, Machine, sh

sys.path.insert(0, str(REPO_DIR / "scripts"))
import debbuild  # noqa: E402

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.install)


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
    """The built .deb files for the machines' suite: $SUBSITE_DEBS, else *.deb in
    $SUBSITE_DEB_DIR (default build/debs/<machine.SUITE>)."""
    if os.environ.get("SUBSITE_DEBS"):
        files = [Path(p) for p in os.environ["SUBSITE_DEBS"].split(":") if p]
        missing = [str(p) for p in files if not p.is_file()]
        if missing:
            pytest.fail(f"SUBSITE_DEBS names missing files: {missing}")
        return files
    deb_dir = Path(os.environ.get("SUBSITE_DEB_DIR", debbuild.out_dir(machine_mod.SUITE)))
    files = sorted(deb_dir.glob("*.deb"))
    if not files:
        pytest.skip(f"no .deb in {deb_dir}: build the package first "
                    f"(scripts/build-deb --suite {machine_mod.SUITE}, or set SUBSITE_DEB_DIR / SUBSITE_DEBS)")
    return files


def suite_debs(suite):
    """The built .debs of ``suite`` (build/debs/<suite>); skip the test if there are none."""
    files = sorted(debbuild.out_dir(suite).glob("*.deb"))
    if not files:
        pytest.skip(f"no .deb in {debbuild.out_dir(suite)}: build it with scripts/build-deb --suite {suite}")
    return files


def app_master(machine):
    """The pid of the app's uWSGI master (inside the machine), from its pid file."""
    return machine.run("cat /run/uwsgi/app/subsite/pid").stdout.strip()


def app_workers(machine):
    """{pid: uid} of the app's uWSGI workers (the children of its master), pids as seen inside."""
    master = app_master(machine)
    found = machine.run(f"grep -l '^PPid:[[:space:]]*{master}$' /proc/[0-9]*/status | xargs -r grep -H '^Uid:'",
                        check=False).stdout
    return {int(pid): int(uid) for pid, uid in re.findall(r"/proc/(\d+)/status:Uid:\s+(\d+)", found)}


def deb_version(deb):
    return sh(["dpkg-deb", "--field", str(deb), "Version"]).stdout.strip()


def previous_version(deb):
    """The upstream version of the release before ``deb``: <upstream>~prev1 (built with the suite's suffix)."""
    return debbuild.upstream_version(deb_version(deb)) + "~prev1"


# The older release differs from this tree in one conffile, so upgrades meet
# a conffile that changed upstream.
PREVIOUS_CONFFILE = "uwsgi/apps-available/subsite.ini"


def _make_previous(src):
    path = Path(src) / PREVIOUS_CONFFILE
    path.write_text(path.read_text() + "; (this line is only in the previous release)\n")


@pytest.fixture(scope="session")
def previous_debs(debs):
    """The release before ``debs``: this tree as version <upstream>~prev1+debNNu1 with an
    older uWSGI app file, for the machines' suite ($SUBSITE_PREVIOUS_DEB_DIR, else built once)."""
    if os.environ.get("SUBSITE_PREVIOUS_DEB_DIR"):
        files = sorted(Path(os.environ["SUBSITE_PREVIOUS_DEB_DIR"]).glob("*.deb"))
        if not files:
            pytest.fail(f"no .deb in SUBSITE_PREVIOUS_DEB_DIR={os.environ['SUBSITE_PREVIOUS_DEB_DIR']}")
        return files
    return debbuild.build(out=REPO_DIR / "build" / "debs-previous", version=previous_version(debs[0]),
                          edit=_make_previous, suite=machine_mod.SUITE)


def _machine_scope(fixture_name, config):
    scope = os.environ.get("SUBSITE_MACHINE_SCOPE", "module")
    if scope not in ("module", "session"):
        raise ValueError(f"SUBSITE_MACHINE_SCOPE must be module or session, not {scope!r}")
    return scope


@pytest.fixture(scope=_machine_scope)
def machine(debs):
    """A booted Machine whose /srv/repo holds ``debs`` and whose apt cache holds
    everything needed to install them offline (``machine.install("subsite")``)."""
    require_namespaces()
    m = Machine.create(debs=debs)
    yield m
    m.shutdown()


def pytest_terminal_summary(terminalreporter):
    if machine_mod.TIMINGS:
        terminalreporter.section("install machine timings")
        for label, seconds in machine_mod.TIMINGS:
            terminalreporter.write_line(f"{seconds:8.2f}s  {label}")
