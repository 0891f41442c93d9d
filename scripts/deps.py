"""The Debian packages each entry script needs, installed with apt-get."""

import os
import subprocess

BUILD = ["dpkg-dev", "debhelper", "dh-virtualenv", "python3-venv", "python3-dev", "po-debconf", "git"]
# chromium: tests/unit/test_browser.py checks the pages under the Content-Security-Policy in a real browser.
TEST = BUILD + ["debootstrap", "apt-utils", "iproute2", "util-linux", "lintian", "piuparts", "wrk", "chromium"]


def apt_install(packages):
    """Install ``packages`` (runs apt-get update first); needs root."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages], check=True, env=env)
