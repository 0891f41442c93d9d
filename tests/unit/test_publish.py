"""scripts/publish's pure parts: what a host is given, which suite a .deb goes to, what is refused.

The repository itself (reprepro, the signatures, apt on a host) is tested in
tests/install/test_publish.py.
"""

import subprocess
import sys
from pathlib import Path

import pytest

TOP = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(TOP / "scripts"))
import entrypoints  # noqa: E402

publish = entrypoints.load("publish")


def dpkg_compare(a, op, b):
    return subprocess.run(["dpkg", "--compare-versions", a, op, b], check=False).returncode == 0


def test_the_sources_file_is_deb822_signed_by_the_keyring_in_etc_apt_keyrings():
    assert publish.sources_text("https://apt.example.org/subsite", "bookworm") == (
        "# subsite's apt repository (written by scripts/publish)\n"
        "Types: deb\n"
        "URIs: https://apt.example.org/subsite\n"
        "Suites: bookworm\n"
        "Components: main\n"
        "Signed-By: /etc/apt/keyrings/subsite-archive-keyring.gpg\n")
    # no [trusted=yes] or any other option that weakens apt's check
    assert "trusted" not in publish.sources_text("http://h/x", "trixie").lower()


def test_the_names_come_from_debian_control():
    control = (TOP / "debian" / "control").read_text()
    assert control.startswith(f"Source: {publish.NAME}\n")
    assert publish.KEYRING == f"{publish.NAME}-archive-keyring.gpg" and publish.SOURCES == f"{publish.NAME}.sources"


def test_the_host_commands_install_the_two_files_then_the_package():
    first, second = publish.host_commands("trixie")
    assert first == ("install -D -m 0644 -t /etc/apt/keyrings subsite-archive-keyring.gpg && "
                     "install -m 0644 -t /etc/apt/sources.list.d trixie/subsite.sources")
    assert second == "apt update && apt install subsite"


@pytest.mark.parametrize("url", ["http://apt.example.org/subsite", "https://apt.example.org:8443/a/b/",
                                 "http://127.0.0.1:8000", "file:/srv/apt/repo", "file:///srv/apt/repo"])
def test_urls_apt_fetches_from_are_taken_as_given(url):
    assert publish.check_url(url) == url


@pytest.mark.parametrize("url", ["ftp://example.org/x", "apt.example.org/subsite", "http://", "http:///x",
                                 "http://h/with space", "file:relative/path", "", "http://h/x#frag"])
def test_other_urls_are_refused_with_what_to_give(url):
    with pytest.raises(publish.PublishError, match="give http://HOST/PATH"):
        publish.check_url(url)


def test_a_deb_goes_to_the_suite_its_version_names():
    assert publish.suite_of("a.deb", "1.1.0+deb12u1", []) == "bookworm"
    assert publish.suite_of("a.deb", "1.1.0+deb13u1", ["bookworm", "trixie"]) == "trixie"
    # release 1.0.0 has no suffix: the one suite named takes it
    assert publish.suite_of("a.deb", "1.0.0", ["bookworm"]) == "bookworm"


@pytest.mark.parametrize("version, suites, says", [
    ("1.1.0+deb13u1", ["bookworm"], "is built for trixie, but --suite says bookworm"),
    ("1.0.0", [], r"has no suite suffix \(\+deb12u1 for bookworm, \+deb13u1 for trixie\)"),
    ("1.0.0", ["bookworm", "trixie"], "say which suite it is for with one --suite"),
    ("1.1.0+deb14u1", [], "has no suite suffix"),
])
def test_a_deb_whose_suite_is_unclear_or_contradicted_is_refused(version, suites, says):
    with pytest.raises(publish.PublishError, match=says):
        publish.suite_of("subsite.deb", version, suites)


def test_a_newer_version_is_added_the_same_file_skipped():
    verdict = publish.verdict
    assert verdict("n.deb", "subsite", "1.1.0+deb12u1", "bookworm", None, False, dpkg_compare) == "add"
    assert verdict("n.deb", "subsite", "1.1.0+deb12u1", "bookworm", "1.0.0", False, dpkg_compare) == "add"
    assert verdict("n.deb", "subsite", "1.1.0+deb12u1", "bookworm", "1.1.0+deb12u1", True, dpkg_compare) == "skip"


def test_a_downgrade_or_another_build_of_a_published_version_is_refused():
    with pytest.raises(publish.PublishError, match="already has subsite 1.1.0, newer than old.deb .1.0.0.: "
                                                   "apt never downgrades"):
        publish.verdict("old.deb", "subsite", "1.0.0", "bookworm", "1.1.0", False, dpkg_compare)
    with pytest.raises(publish.PublishError, match="another build of it.*Publish it under a new version"):
        publish.verdict("re.deb", "subsite", "1.1.0", "bookworm", "1.1.0", False, dpkg_compare)


def test_repreros_configuration_is_read_back_as_written():
    codenames = {"bookworm": {"amd64"}, "trixie": {"amd64", "arm64"}}
    text = publish.distributions(codenames, "ABCDEF0123456789")
    assert "Codename: trixie\nArchitectures: amd64 arm64\nComponents: main\n" in text
    assert text.count("SignWith: ABCDEF0123456789\n") == 2 and "Log: bookworm.log\n" in text
    assert publish.read_distributions(text) == (codenames, "ABCDEF0123456789")
    assert publish.read_distributions("") == ({}, None)


def test_arguments_are_checked_before_anything_is_built_or_signed(tmp_path, capsys):
    assert publish.main(["--url", "ftp://example.org/x", "--out", str(tmp_path / "o")]) == 1
    assert "is not a URL apt can fetch from" in capsys.readouterr().err
    assert publish.main(["--key", str(tmp_path / "missing.asc"), "--out", str(tmp_path / "o")]) == 1
    assert "missing.asc: no such file" in capsys.readouterr().err
    assert publish.main(["--debs", str(tmp_path / "nothing"), "--out", str(tmp_path / "o")]) == 1
    assert "is neither a .deb nor a directory of .debs" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert publish.main(["--debs", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 1
    assert "no .deb in" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        publish.main(["--suite", "sid"])
    assert exit_.value.code == 2
    assert not (tmp_path / "o").exists()


def test_a_deb_without_a_suffix_needs_its_suite(tmp_path, capsys):
    package = tmp_path / "pkg"
    (package / "DEBIAN").mkdir(parents=True)
    (package / "DEBIAN" / "control").write_text(
        "Package: subsite\nVersion: 1.0.0\nArchitecture: all\nMaintainer: t <t@example.invalid>\nDescription: t\n")
    deb = tmp_path / "subsite_1.0.0_all.deb"
    subprocess.run(["dpkg-deb", "--build", "-Zgzip", str(package), str(deb)], check=True, capture_output=True)
    assert publish.main(["--debs", str(deb), "--out", str(tmp_path / "o")]) == 1
    assert "subsite_1.0.0_all.deb (1.0.0) has no suite suffix" in capsys.readouterr().err
    assert publish.gather([deb], ["bookworm"]) == {"bookworm": [deb]}
