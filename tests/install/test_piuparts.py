"""piuparts on the .deb (scripts/piuparts): install -> purge, and the previous
release -> upgrade -> purge, in a clean bookworm chroot with services denied,
leaving no file behind. Needs deb.debian.org; ~1 min with piuparts' base
cached in .cache/piuparts, ~2.5 min without."""

import pytest

from conftest import full_run, require_namespaces, suite_debs
from machine import REPO_DIR, SUITES, sh


@pytest.mark.parametrize("suite", SUITES)
def test_piuparts_install_upgrade_purge_leave_nothing(suite, previous_debs):
    require_namespaces()
    if suite != "bookworm" and not full_run():
        pytest.skip("CI runs piuparts on bookworm (install, upgrade from 1.0.0, purge); scripts/test --full on trixie too")
    debs = suite_debs(suite)
    upgrade = ["--previous", str(previous_debs[0].parent)] if suite == "bookworm" else []
    done = sh([str(REPO_DIR / "scripts" / "piuparts"), "--suite", suite, "--debs", str(debs[0].parent), *upgrade],
              check=False, timeout=1200)
    assert done.returncode == 0, f"scripts/piuparts failed:\n{done.stdout[-6000:]}\n{done.stderr[-3000:]}"
    assert "PASS: Installation and purging test." in done.stdout
    if upgrade:
        assert "PASS: Installation, upgrade and purging tests." in done.stdout
