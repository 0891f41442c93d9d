"""The built .deb of each suite as Debian's tools see it: that suite's lintian, its contents, its venv.

Each test runs for every suite of debbuild.SUITES, on build/debs/<suite>
(scripts/test builds them all; a suite not built is skipped).
"""

import re

import pytest

import debbuild
from conftest import full_run, require_namespaces, suite_debs
from machine import REPO_DIR, sh

# Build tools that make the venv but are not shipped in it (debian/rules).
BUILD_ONLY = {"pip", "setuptools", "wheel"}
# The python3.X of each suite, which its .deb's venv runs on.
PYTHON = {"bookworm": "3.11", "trixie": "3.13"}


@pytest.fixture(params=list(debbuild.SUITES))
def suite(request):
    return request.param


def contents(deb):
    return [line.split()[5] for line in sh(["dpkg-deb", "--contents", str(deb)]).stdout.splitlines()]


def field(deb, name):
    return sh(["dpkg-deb", "--field", str(deb), name]).stdout.strip()


def pinned_requirements():
    text = (REPO_DIR / "app" / "requirements.txt").read_text()
    return dict(re.findall(r"^([A-Za-z0-9_.-]+)==([^\s\\;]+)", text, re.M))


def test_the_suites_lintian_reports_nothing(suite):
    require_namespaces()
    debs = suite_debs(suite)
    changes = sorted(debs[0].parent.glob("*.changes"))
    assert changes, f"no .changes next to {debs[0]}"
    tags = debbuild.lintian(suite, changes[-1])
    assert tags == [], f"lintian of {suite}:\n" + "\n".join(tags)


def test_the_version_and_the_python_are_the_suites(suite):
    deb = suite_debs(suite)[0]
    version = field(deb, "Version")
    assert version == debbuild.package_version(debbuild.upstream_version(version), suite)
    python = PYTHON[suite]
    depends = [d.strip() for d in field(deb, "Depends").split(",")]
    assert f"python{python}" in depends, depends
    venv_pythons = {m for n in contents(deb) for m in re.findall(r"/opt/venvs/subsite/lib/python(3\.\d+)/$", n)}
    assert venv_pythons == {python}


def test_venv_holds_exactly_the_pinned_versions(suite):
    deb = suite_debs(suite)[0]
    names = contents(deb)
    shipped = dict(re.findall(r"site-packages/([A-Za-z0-9_.]+)-([^-/]+)\.dist-info/$", "\n".join(names), re.M))
    shipped = {name.lower().replace("_", "-"): version for name, version in shipped.items()}
    pins = {name.lower(): version for name, version in pinned_requirements().items()
            if name.lower() not in BUILD_ONLY}
    # The app's own version is the upstream part of the .deb's (which adds +debNNu1).
    assert shipped.pop("subsite") == debbuild.upstream_version(field(deb, "Version"))
    assert shipped == pins


def test_no_build_tools_or_empty_dirs_in_the_venv(suite):
    names = contents(suite_debs(suite)[0])
    assert not [n for n in names if re.search(r"/(bin/pip|site-packages/(pip|setuptools|wheel)[/-]|include/)", n)]
    assert not [n for n in names if n.endswith("/.gitignore")]
    assert any(n.endswith(".pyc") for n in names), "the venv ships its bytecode"


def test_a_second_build_is_byte_identical(suite, tmp_path):
    # Reproducible builds: no build directory, time or order ends up in the .deb
    # (scripts/reproducible_venv.py). build/debs/<suite> must be this tree's build.
    require_namespaces()
    if suite != "trixie" and not full_run():
        pytest.skip("CI rebuilds trixie's; scripts/test --full bookworm's too")
    debs = suite_debs(suite)
    again = debbuild.build(out=tmp_path / "again", suite=suite)
    assert [deb.name for deb in again] == [deb.name for deb in debs]
    for first, second in zip(debs, again):
        assert first.read_bytes() == second.read_bytes(), f"{first.name} differs from a second build"
