"""The Debian packages each entry script needs on the host, installed with apt-get.

The .deb is built in a clean chroot (scripts/debbuild.py: sbuild's unshare
mode, chroot tarballs made by mmdebstrap), which installs debian/control's
Build-Depends itself: the host needs only the tools that make and enter it.
"""

import os
import subprocess

BUILD = [
    "sbuild", "mmdebstrap", "uidmap",   # the chroot build (newuidmap/newgidmap for the unshare mode)
    "iproute2",                         # sbuild brings up the offline build's loopback with ip
    "zstd",                             # the cached chroot tarballs are .tar.zst
    "debian-archive-keyring",           # current, so it has the keys of every suite we build for
    "dpkg-dev",                         # dpkg-source makes the source package sbuild builds
    "python3-pip", "ca-certificates",   # pip downloads the pinned wheels from PyPI for the offline build
    "git",                              # the build copies the files git tracks
]
PUBLISH = [
    "reprepro",                         # scripts/publish: the signed apt repository hosts install from
    "gnupg", "gpgv",                    # its signing key; gpgv checks the signatures as a host's apt does
]
TEST = BUILD + PUBLISH + [
    "python3-venv", "apt-utils", "iproute2", "util-linux", "piuparts", "wrk",
    "systemd-container",                # systemd-nspawn: the install tests' machines that boot systemd
    "chromium",                         # tests/unit/test_browser.py: the pages under their CSP in a real browser
    "postgresql",                       # tests/unit/conftest.py's postgres_server: initdb and pg_ctl, no service
]


def apt_install(packages):
    """Install ``packages`` (runs apt-get update first); needs root."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages], check=True, env=env)
