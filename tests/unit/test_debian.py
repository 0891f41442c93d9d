"""The packaging's own logic that runs at build time, checked without a build."""

import importlib.util
import subprocess
from pathlib import Path

TOP = Path(__file__).resolve().parents[2]


def reproducible_venv():
    """scripts/reproducible_venv.py, which debian/rules runs on the built venv."""
    spec = importlib.util.spec_from_file_location("reproducible_venv", TOP / "scripts" / "reproducible_venv.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_venv_keeps_no_trace_of_the_build_directory(tmp_path):
    build = "/work/build/build-x1y2z3/subsite/debian/subsite/opt/venvs/subsite"
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text(f"home = /usr/bin\ncommand = /usr/bin/python3.11 -m venv {build}\nversion = 3.11\n")
    script = b"#!/opt/venvs/subsite/bin/python\nfrom subsite.cli import main\n"
    (venv / "bin" / "subsite").write_bytes(script)
    info = venv / "lib" / "python3.11" / "site-packages" / "subsite-1.0.0.dist-info"
    info.mkdir(parents=True)
    (info / "direct_url.json").write_text('{"url": "file:///work/build/build-x1y2z3/subsite/app"}')
    (info / "METADATA").write_text("Name: subsite\n")
    (info / "RECORD").write_bytes(
        b"../../../bin/subsite,sha256=pipsHashOfTheScriptWithTheBuildPath,280\r\n"
        b"subsite-1.0.0.dist-info/METADATA,sha256=kept,14\r\n"
        b"subsite-1.0.0.dist-info/direct_url.json,sha256=x,55\r\n"
        b"subsite-1.0.0.dist-info/RECORD,,\r\n"
    )
    assert "scripts/reproducible_venv.py $(VENV)" in (TOP / "debian" / "rules").read_text()
    fixed = reproducible_venv()
    fixed.fix(venv)
    assert (venv / "pyvenv.cfg").read_text() == "home = /usr/bin\nversion = 3.11\n"
    assert not (info / "direct_url.json").exists()
    assert (info / "RECORD").read_bytes() == (
        f"../../../bin/subsite,{fixed.record_hash(script)},{len(script)}\r\n".encode()
        + b"subsite-1.0.0.dist-info/METADATA,sha256=kept,14\r\n"
        b"subsite-1.0.0.dist-info/RECORD,,\r\n"
    )


def test_postrm_leaves_the_debconf_purge_to_debhelper():
    # dh_installdebconf adds db_purge at #DEBHELPER# (debian/templates exists);
    # a second copy of our own ran it twice on every purge.
    postrm = (TOP / "debian" / "postrm").read_text()
    assert (TOP / "debian" / "templates").is_file()
    assert "#DEBHELPER#" in postrm
    assert "db_purge" not in postrm and "confmodule" not in postrm


def debbuild():
    """scripts/debbuild.py, which builds the .debs (only its pure functions are used here)."""
    spec = importlib.util.spec_from_file_location("debbuild", TOP / "scripts" / "debbuild.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dpkg_compare(a, op, b):
    return subprocess.run(["dpkg", "--compare-versions", a, op, b], check=False).returncode == 0


def test_versions_sort_by_release_then_suite():
    build = debbuild()
    releases = ["1.0.0", "1.0.1~rc1", "1.0.1", "1.1.0", "2.0"]   # in upstream order
    for release in releases:
        bookworm, trixie = build.package_version(release, "bookworm"), build.package_version(release, "trixie")
        assert dpkg_compare(bookworm, "lt", trixie), (bookworm, trixie)
        assert build.upstream_version(trixie) == build.upstream_version(bookworm) == release
        # the upgrade tests' older release sorts below the build it is upgraded to
        for suite in ("bookworm", "trixie"):
            older = build.package_version(release + "~prev1", suite)
            assert dpkg_compare(older, "lt", build.package_version(release, suite)), older
    for i, release in enumerate(releases):
        trixie = build.package_version(release, "trixie")
        # above every bookworm build of the same or an earlier release, and the plain 1.0.0 on servers
        for earlier in releases[:i + 1]:
            assert dpkg_compare(trixie, "gt", build.package_version(earlier, "bookworm")), (trixie, earlier)
        assert dpkg_compare(trixie, "gt", "1.0.0"), trixie
    assert build.package_version("1.1.0", "trixie") == "1.1.0+deb13u1"
    assert build.package_version("1.1.0", "bookworm") == "1.1.0+deb12u1"


def test_a_build_entry_tops_the_changelog_one_second_later(tmp_path):
    build = debbuild()
    (tmp_path / "debian").mkdir()
    release = ("subsite (1.1.0) bookworm; urgency=medium\n\n  * A release.\n\n"
               " -- subsite developers <subsite@packages.invalid>  Sat, 21 Nov 2026 20:00:00 +0000\n")
    (tmp_path / "debian" / "changelog").write_text(release)
    build.add_changelog_entry(tmp_path, "1.1.0+deb13u1", "trixie", "Build for trixie.")
    text = (tmp_path / "debian" / "changelog").read_text()
    assert text.startswith("subsite (1.1.0+deb13u1) trixie; urgency=medium\n\n  * Build for trixie.\n\n"
                           " -- subsite developers <subsite@packages.invalid>  Sat, 21 Nov 2026 20:00:01 +0000\n\n")
    assert text.endswith(release)


def test_the_build_chroot_is_keyed_on_debian_controls_build_depends(tmp_path):
    build = debbuild()
    (tmp_path / "debian").mkdir()
    control = tmp_path / "debian" / "control"
    control.write_text("Source: subsite\nBuild-Depends: debhelper-compat (= 13),\n# a comment\n"
                       "               python3-dev,\n  po-debconf\nBuild-Depends-Indep: python3\n"
                       "Standards-Version: 4.6.2\n\nPackage: subsite\nDepends: nginx\n")
    key = build.build_depends(tmp_path)
    assert key == ("Build-Depends: debhelper-compat (= 13), python3-dev, po-debconf\n"
                   "Build-Depends-Indep: python3")
    control.write_text(control.read_text().replace("Depends: nginx", "Depends: nginx, uwsgi"))
    assert build.build_depends(tmp_path) == key, "only the source paragraph's build dependencies count"
    assert build.build_depends(TOP).startswith("Build-Depends: debhelper-compat (= 13), dh-virtualenv")


def test_activate_points_at_the_installed_venv(tmp_path):
    # python3.13's bin/activate sets VIRTUAL_ENV on indented lines dh-virtualenv 1.2.2 leaves alone.
    venv = tmp_path / "build" / "debian" / "subsite" / "opt" / "venvs" / "subsite"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "activate").write_text(f'case x in\n    *)\n        export VIRTUAL_ENV={venv}\n        ;;\nesac\n')
    (venv / "bin" / "activate.csh").write_text('setenv VIRTUAL_ENV "/opt/venvs/subsite"\n')
    fixed = reproducible_venv()
    assert fixed.installed_path(venv) == "/opt/venvs/subsite"
    fixed.fix_activate(venv)
    assert (venv / "bin" / "activate").read_text() == (
        "case x in\n    *)\n        export VIRTUAL_ENV=/opt/venvs/subsite\n        ;;\nesac\n")
    assert (venv / "bin" / "activate.csh").read_text() == 'setenv VIRTUAL_ENV "/opt/venvs/subsite"\n'
