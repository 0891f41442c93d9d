"""piuparts on the .deb (scripts/piuparts): install -> purge, and the previous
release -> upgrade -> purge, in a clean bookworm chroot with services denied,
leaving no file behind. Needs deb.debian.org; ~1 min with piuparts' base
cached in .cache/piuparts, ~2.5 min without."""

from conftest import require_namespaces
from machine import REPO_DIR, sh


def test_piuparts_install_upgrade_purge_leave_nothing(debs, previous_debs):
    require_namespaces()
    done = sh([str(REPO_DIR / "scripts" / "piuparts"), "--debs", str(debs[0].parent),
               "--previous", str(previous_debs[0].parent)], check=False, timeout=1200)
    assert done.returncode == 0, f"scripts/piuparts failed:\n{done.stdout[-6000:]}\n{done.stderr[-3000:]}"
    assert "PASS: Installation and purging test." in done.stdout
    assert "PASS: Installation, upgrade and purging tests." in done.stdout
