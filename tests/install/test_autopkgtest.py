"""debian/tests run by autopkgtest itself, offline, in a clean root of each suite.

The root gets autopkgtest and every package the test needs as a local apt
repository (the machine has no network), and a copy of this source tree;
autopkgtest then installs the built .deb and runs debian/tests/smoke on the
machine itself (the ``null`` testbed), with real nginx and uWSGI.
"""

import shutil

import pytest

from conftest import full_run, require_namespaces, suite_debs
from machine import SUITES, Machine, deb_package_name, sh

import debbuild

SOURCE = "/srv/src"
# autopkgtest, dpkg-dev (it reads the unbuilt tree with it), python3 (the test's Depends).
TOOLS = ["autopkgtest", "dpkg-dev", "python3"]


def offline_repo(machine):
    """Serve the pre-downloaded packages and the .debs from /srv/repo alone, so
    every apt-get update autopkgtest runs works without network."""
    repo = machine.root / "srv/repo"
    for deb in (machine.root / "var/cache/apt/archives").glob("*.deb"):
        shutil.move(deb, repo / deb.name)
    sh(f"cd {repo} && apt-ftparchive packages . > Packages && apt-ftparchive release . > Release")
    sources = machine.root / "etc/apt"
    for extra in (sources / "sources.list.d").iterdir():
        if extra.name != "local-repo.list":
            extra.unlink()
    (sources / "sources.list").write_text("")
    machine.run("apt-get update -q")


def copy_source(machine):
    """Copy the tracked source tree to SOURCE in the machine."""
    for name in debbuild.tracked_files():
        target = machine.root / SOURCE.lstrip("/") / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(debbuild.TOP / name, target)


@pytest.mark.parametrize("suite", SUITES)
def test_autopkgtest_smoke_passes(suite):
    require_namespaces()
    if suite != "trixie" and not full_run():
        pytest.skip("CI runs autopkgtest on trixie; scripts/test --full on bookworm too")
    debs = suite_debs(suite)
    packages = sorted({deb_package_name(deb) for deb in debs})
    with Machine.create(debs=debs, download=[*packages, *TOOLS], suite=suite) as machine:
        offline_repo(machine)
        copy_source(machine)
        machine.install(*TOOLS)
        debs_inside = " ".join(f"/srv/repo/{deb.name}" for deb in debs)
        # The null testbed is this throw-away machine: isolation enough for the
        # smoke test's isolation-container (trixie's autopkgtest asks it to say so).
        done = machine.run(f"autopkgtest --no-built-binaries --ignore-restrictions=isolation-container"
                           f" {SOURCE} {debs_inside} -- null",
                           check=False, timeout=900)
        output = done.stdout + done.stderr
        assert done.returncode == 0, f"autopkgtest exited {done.returncode}:\n{output[-6000:]}"
        assert "ok: the app answers under /subsite through nginx" in output
        assert "ok: the app answers under /autopkgtest-smoke through nginx" in output
        results = [line.split() for line in done.stdout.splitlines() if line.startswith("smoke ")]
        assert results == [["smoke", "PASS"]], output[-3000:]
