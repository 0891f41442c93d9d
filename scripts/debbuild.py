"""Build the subsite .deb from this checkout, outside it (importable by tests).

The tracked tree is copied to a scratch directory, so dpkg-buildpackage
writes nothing into the checkout. The pyenv python is kept off PATH: the
venv must be built by Debian's /usr/bin/python3.
"""

import email.utils
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

TOP = Path(__file__).resolve().parent.parent
BUILD = TOP / "build"
PATH = "/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"


def tracked_files(top=TOP):
    """List the files git would commit: tracked, plus untracked ones it does not ignore."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=top, check=True, capture_output=True,
    ).stdout
    return [name for name in out.decode().split("\0") if name and (Path(top) / name).exists()]


def add_changelog_entry(src, version, text):
    """Put a changelog entry for ``version`` on top of ``src``/debian/changelog."""
    changelog = Path(src) / "debian" / "changelog"
    old = changelog.read_text()
    head = old.split("\n", 1)[0]                      # "subsite (1.0.0) bookworm; urgency=medium"
    package, rest = head.split(" ", 1)
    suite = rest.split(")", 1)[1]
    trailer = next(line for line in old.splitlines() if line.startswith(" -- "))
    maintainer = trailer[4:].split(">", 1)[0] + ">"
    date = email.utils.formatdate(int(os.environ.get("SOURCE_DATE_EPOCH", "0")) or None)
    changelog.write_text(f"{package} ({version}){suite}\n\n  * {text}\n\n -- {maintainer}  {date}\n\n{old}")


def build(out=BUILD / "debs", version=None, edit=None, source=TOP):
    """Build the .debs into ``out`` (emptied first) and return their paths.

    ``version`` adds a changelog entry so the package gets that version;
    ``edit(src)`` may change the copied tree before the build (tests use it to
    make an older release with different conffiles).
    """
    out = Path(out)
    BUILD.mkdir(exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="build-", dir=BUILD))
    src = scratch / "subsite"
    try:
        for name in tracked_files(source):
            target = src / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(Path(source) / name, target)
        if version:
            add_changelog_entry(src, version, f"Build of version {version}.")
        if edit:
            edit(src)
        env = {"PATH": PATH, "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8"}
        if "SOURCE_DATE_EPOCH" in os.environ:
            env["SOURCE_DATE_EPOCH"] = os.environ["SOURCE_DATE_EPOCH"]
        subprocess.run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=src, env=env, check=True)
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        for built in scratch.iterdir():
            if built.is_file():
                shutil.move(str(built), out / built.name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return sorted(out.glob("*.deb"))
