"""The built .deb as Debian's tools see it: lintian, its contents, its venv."""

import re
import subprocess

import debbuild
from machine import REPO_DIR, sh

# Build tools that make the venv but are not shipped in it (debian/rules).
BUILD_ONLY = {"pip", "setuptools", "wheel"}


def contents(deb):
    return [line.split()[5] for line in sh(["dpkg-deb", "--contents", str(deb)]).stdout.splitlines()]


def pinned_requirements():
    text = (REPO_DIR / "app" / "requirements.txt").read_text()
    return dict(re.findall(r"^([A-Za-z0-9_.-]+)==([^\s\\;]+)", text, re.M))


def test_lintian_reports_nothing(debs):
    changes = sorted(debs[0].parent.glob("*.changes"))
    assert changes, f"no .changes next to {debs[0]}"
    done = subprocess.run(["lintian", "-I", "--pedantic", "--fail-on", "none", str(changes[-1])],
                          capture_output=True, text=True, check=True)
    tags = [line for line in done.stdout.splitlines() if re.match(r"[EWIPX]: ", line)]
    assert tags == [], "\n".join(tags)


def test_venv_holds_exactly_the_pinned_versions(debs):
    names = contents(debs[0])
    shipped = dict(re.findall(r"site-packages/([A-Za-z0-9_.]+)-([^-/]+)\.dist-info/$", "\n".join(names), re.M))
    shipped = {name.lower().replace("_", "-"): version for name, version in shipped.items()}
    pins = {name.lower(): version for name, version in pinned_requirements().items()
            if name.lower() not in BUILD_ONLY}
    assert shipped.pop("subsite") == sh(["dpkg-deb", "--field", str(debs[0]), "Version"]).stdout.strip()
    assert shipped == pins


def test_no_build_tools_or_empty_dirs_in_the_venv(debs):
    names = contents(debs[0])
    assert not [n for n in names if re.search(r"/(bin/pip|site-packages/(pip|setuptools|wheel)[/-]|include/)", n)]
    assert any(n.endswith(".pyc") for n in names), "the venv ships its bytecode"


def test_a_second_build_is_byte_identical(debs, tmp_path):
    # Reproducible builds: no build directory, time or order ends up in the .deb
    # (scripts/reproducible_venv.py). ``debs`` must be this tree's build.
    again = debbuild.build(out=tmp_path / "again")
    assert [deb.name for deb in again] == [deb.name for deb in debs]
    for first, second in zip(debs, again):
        assert first.read_bytes() == second.read_bytes(), f"{first.name} differs from a second build"
