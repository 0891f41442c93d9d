"""README's first command on a bare Debian server: minbase plus systemd, nothing else installed.

The repository is cloned into a fresh root of each suite, which boots its own
systemd and shares the host's network (the command downloads Debian's
packages and the pinned Python files). `apt-get update && apt-get install -y
python3 && scripts/deploy` must build the .deb there and leave the app
answering at /subsite/. A few minutes each: CI rehearses Debian 12, a full run
(scripts/test --full) Debian 13 too.
"""

import shutil
from pathlib import Path

import pytest

from conftest import full_run, require_namespaces
from machine import REPO_DIR, SUITES, Machine, sh

FIRST_COMMAND = "apt-get update && apt-get install -y python3 && scripts/deploy"
CHECKOUT = "/root/subsite"


@pytest.mark.parametrize("suite", SUITES)
def test_the_first_command_builds_installs_and_serves(suite):
    require_namespaces()
    if suite != "bookworm" and not full_run():
        pytest.skip("CI rehearses Debian 12; scripts/test --full Debian 13 too")
    with Machine.create(init="systemd", suite=suite, boot=False) as m:
        sh(["git", "clone", "--quiet", "--no-hardlinks", str(REPO_DIR), str(m.root / CHECKOUT.lstrip("/"))])
        # Where the network reaches PyPI through a certificate authority of its
        # own, the host trusts it (/usr/local/share/ca-certificates): so must the
        # fresh root, as any server on that network would. ca-certificates,
        # installed by the command, takes it in.
        local = m.root / "usr/local/share/ca-certificates"
        local.mkdir(parents=True, exist_ok=True)
        for authority in Path("/usr/local/share/ca-certificates").glob("*.crt"):
            shutil.copy2(authority, local / authority.name)
        m.boot(network=True)
        done = m.run(f"cd {CHECKOUT} && {FIRST_COMMAND}", check=False, timeout=1800)
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
        answer = m.run("python3 -c \"import urllib.request as u; r = u.urlopen('http://127.0.0.1/subsite/');"
                       " print(r.status)\"").stdout.strip()
        assert answer == "200"
        status = m.run("systemctl is-active subsite.socket subsite.service").stdout.split()
        assert status == ["active", "active"], status
