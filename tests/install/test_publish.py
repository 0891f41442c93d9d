"""scripts/publish: hosts install subsite with apt from the signed repository, and refuse a forged one.

A clean root of the suite (Debian's packages in its apt cache, as for every
install test, but no local ``[trusted=yes]`` repository: drop_local_repo) is
given the keyring and the .sources that scripts/publish wrote, by the first
command it prints, and fetches the repository over HTTP from 127.0.0.1
(Machine.serve). Before the real repository, the same host is pointed at a
copy whose Release was altered after signing and at one signed by another
key: apt-get update refuses both and subsite cannot be installed from them.
Then `apt-get update && apt-get install subsite` and the app answers.
The repository's history (one version per suite, no going back) is checked
on the host alone.
"""

import shutil
import subprocess

import pytest

import cluster
from conftest import MACHINES, require_namespaces, split, suite_debs
from machine import HOST_PYTHON, REPO_DIR, Machine, sh

SCRIPT = REPO_DIR / "scripts" / "publish"


def publish_module():
    """scripts/publish as a module: its host commands and .sources text, the ones it prints and writes."""
    return cluster.publish_tool()


def publish(*args, check=True):
    return sh([HOST_PYTHON, str(SCRIPT), *map(str, args)], check=check)


def secret_key(folder, name):
    """A new signing key (ed25519, no passphrase) exported to ``folder``/key.asc, as an organisation passes it."""
    home = folder / "gnupg"
    home.mkdir(mode=0o700, parents=True)
    gpg = ["gpg", "--batch", "--homedir", str(home)]
    try:
        sh([*gpg, "--passphrase", "", "--quick-gen-key", f"{name} <{name}@example.invalid>", "ed25519", "sign"])
        (folder / "key.asc").write_text(sh([*gpg, "--armor", "--export-secret-keys"]).stdout)
    finally:
        sh(["gpgconf", "--kill", "gpg-agent"], env={"PATH": "/usr/bin:/bin", "GNUPGHOME": str(home)}, check=False)
    return folder / "key.asc"


def packages(out, suite):
    """(package, version) of each entry of the suite's Packages index."""
    text = (out / "repo" / "dists" / suite / "main" / "binary-amd64" / "Packages").read_text()
    return [(entry.split("Package: ")[1].split("\n")[0], entry.split("\nVersion: ")[1].split("\n")[0])
            for entry in text.strip().split("\n\n")]


@pytest.mark.parametrize("name", MACHINES)
def test_a_host_installs_from_the_signed_repository_and_refuses_a_forged_one(name, tmp_path):
    require_namespaces()
    suite, init = split(name)
    debs = suite_debs(suite)
    tool = publish_module()
    served = tmp_path / "www"
    served.mkdir()
    with Machine.create(debs=debs, init=init, suite=suite) as m:
        m.drop_local_repo()
        url = m.serve(served)
        good = served / "good"
        publish("--debs", *debs, "--out", good, "--url", f"{url}/good/repo")
        # the same repository, its Release (and InRelease's text) altered after signing
        forged = served / "forged"
        shutil.copytree(good / "repo", forged / "repo")
        for release in ("Release", "InRelease"):
            path = forged / "repo" / "dists" / suite / release
            path.write_text(path.read_text().replace("Origin: subsite", "Origin: mallory"))
        other = served / "other"
        publish("--debs", *debs, "--out", other, "--url", f"{url}/other/repo",
                "--key", secret_key(tmp_path / "other-key", "other"))

        # what an admin copies to the host, then the first command publish prints
        given = m.root / "root" / "from-publish"
        (given / suite).mkdir(parents=True)
        shutil.copy2(good / tool.KEYRING, given / tool.KEYRING)
        shutil.copy2(good / suite / tool.SOURCES, given / suite / tool.SOURCES)
        m.run(f"cd /root/from-publish && {tool.host_commands(suite)[0]}")
        assert m.run("stat -c '%a %U' /etc/apt/keyrings/subsite-archive-keyring.gpg "
                     "/etc/apt/sources.list.d/subsite.sources").stdout.split("\n")[:2] == ["644 root", "644 root"]
        sources = m.root / "etc/apt/sources.list.d" / tool.SOURCES
        assert sources.read_text() == (good / suite / tool.SOURCES).read_text()

        # each verifier's words: gpgv's (bookworm's apt), sqv's (trixie's)
        for bad, errors in (("forged", ("BADSIG", "Message has been manipulated")),
                            ("other", ("NO_PUBKEY", "Missing key"))):
            sources.write_text(tool.sources_text(f"{url}/{bad}/repo", suite))
            # (no retries of Debian's mirror, which this machine cannot reach: 7 s each)
            update = m.run("apt-get update -o Acquire::Retries=0", check=False)
            said = update.stdout + update.stderr
            assert update.returncode != 0, said
            assert f"The repository '{url}/{bad}/repo {suite} InRelease' is not signed" in said, said
            assert any(error in said for error in errors), said
            install = m.run("apt-get install -q -y subsite", check=False)
            assert install.returncode != 0 and "Unable to locate package subsite" in install.stderr, install
        assert m.run("dpkg-query -W -f '${Status}' subsite", check=False).stdout != "install ok installed"

        sources.write_text((good / suite / tool.SOURCES).read_text())
        done = m.run("apt-get update && apt-get install -q -y subsite", check=False, timeout=600)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert "is not signed" not in done.stdout + done.stderr
        version = sh(["dpkg-deb", "-f", str(debs[0]), "Version"]).stdout.strip()
        policy = m.run("apt-cache policy subsite").stdout
        assert f"*** {version} 500" in policy and f"{url}/good/repo {suite}/main" in policy, policy
        m.wait_http("http://127.0.0.1/subsite/_health", timeout=30)


def test_a_suite_keeps_one_version_and_never_goes_back(tmp_path, previous_debs):
    # release 1.0.0 (no suite suffix: named with --suite), then this build replaces it
    debs = suite_debs("bookworm")
    out = tmp_path / "apt"
    publish("--debs", *previous_debs, "--suite", "bookworm", "--out", out)
    assert packages(out, "bookworm") == [("subsite", "1.0.0")]
    version = sh(["dpkg-deb", "-f", str(debs[0]), "Version"]).stdout.strip()
    said = publish("--debs", *debs, "--out", out).stdout
    assert f"bookworm: subsite {version} (replaces 1.0.0)" in said
    assert packages(out, "bookworm") == [("subsite", version)]
    assert sorted(p.name for p in (out / "repo" / "pool").rglob("*.deb")) == [debs[0].name]
    history = (out / "reprepro" / "logs" / "bookworm.log").read_text().splitlines()
    assert [line.split(" ", 2)[2] for line in history] == [
        "add bookworm deb main amd64 subsite 1.0.0", f"replace bookworm deb main amd64 subsite {version} 1.0.0"]
    # the same file again changes nothing; going back is refused, and leaves the repository as it was
    dists = out / "repo" / "dists" / "bookworm"
    index = (dists / "main" / "binary-amd64" / "Packages").read_bytes()
    assert f"bookworm: subsite {version} (already there)" in publish("--debs", *debs, "--out", out).stdout
    assert (dists / "main" / "binary-amd64" / "Packages").read_bytes() == index
    signed = (dists / "InRelease").read_bytes()
    back = publish("--debs", *previous_debs, "--suite", "bookworm", "--out", out, check=False)
    assert back.returncode == 1 and "apt never downgrades" in back.stderr, back.stderr
    assert f"bookworm already has subsite {version}, newer than" in back.stderr
    assert (dists / "InRelease").read_bytes() == signed
    # a repository is never re-signed with another key: hosts trust the one they were given
    other = publish("--debs", *debs, "--out", out, "--key", secret_key(tmp_path / "k", "other"), check=False)
    assert other.returncode == 1 and "is signed with the key" in other.stderr, other.stderr
    assert (dists / "InRelease").read_bytes() == signed
    sh(["gpgv", "--keyring", str(out / "subsite-archive-keyring.gpg"), str(dists / "InRelease")])
    assert subprocess.run(["git", "-C", str(REPO_DIR), "check-ignore", "-q", ".cache/publish/gnupg"]).returncode == 0
