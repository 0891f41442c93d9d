"""Fixtures for install tests: the built .debs and a booted Machine holding them.

Every test under tests/install is marked ``install``.  Environment:
  SUBSITE_DEBS           colon-separated .deb files (wins over the directory)
  SUBSITE_DEB_DIR        directory of .debs (default: <repo>/build/debs)
  SUBSITE_MACHINE_SCOPE  scope of the ``machine`` fixture: module (default) or session
  SUBSITE_MACHINE_TMPDIR where machine roots are unpacked (default: /dev/shm if usable)
"""

import os
import shutil
from pathlib import Path

import pytest

import machine as machine_mod
from machine import REPO_DIR, Machine

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
