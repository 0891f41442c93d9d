"""Take the build directory's traces out of the packaged venv (reproducible builds).

debian/rules runs this on debian/subsite/opt/venvs/subsite after dh_virtualenv:
it drops pyvenv.cfg's "command =" line and pip's direct_url.json (both name the
random build directory) and rehashes the bin/ scripts in RECORD (pip hashed them
with a #! line naming the build directory, which dh_virtualenv then rewrote).
It also points bin/activate at the installed venv where dh_virtualenv left the
build directory in it: dh-virtualenv 1.2.2 rewrites lines that start with
"VIRTUAL_ENV=", and python3.13's activate sets it on indented lines.
"""

import base64
import csv
import hashlib
import sys
from pathlib import Path


def record_hash(data):
    """The hash as a wheel's RECORD writes it."""
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def installed_path(venv):
    """The venv's path once installed: what follows debian/<package> in its build path
    (/build/x/debian/subsite/opt/venvs/subsite -> /opt/venvs/subsite); None outside debian/."""
    built = str(Path(venv).resolve())
    if "/debian/" not in built:
        return None
    return "/" + built.rsplit("/debian/", 1)[1].split("/", 1)[1]


def fix_activate(venv):
    """Replace the build directory by the installed path in the bin/activate* scripts."""
    built, installed = str(Path(venv).resolve()), installed_path(venv)
    for script in Path(venv).glob("bin/[aA]ctivate*"):
        text = script.read_text()
        if installed and built in text:
            script.write_text(text.replace(built, installed))


def fix(venv):
    venv = Path(venv)
    fix_activate(venv)
    config = venv / "pyvenv.cfg"
    lines = config.read_text().splitlines(keepends=True)
    config.write_text("".join(line for line in lines if not line.startswith("command = ")))
    for record in venv.glob("lib/python*/site-packages/*.dist-info/RECORD"):
        with open(record, newline="") as handle:
            rows = list(csv.reader(handle))
        fixed = []
        for name, digest, size in rows:
            path = record.parent.parent / name
            if name.endswith(".dist-info/direct_url.json"):
                path.unlink()
                continue
            if name.startswith("../../../bin/"):
                data = path.read_bytes()
                digest, size = record_hash(data), str(len(data))
            fixed.append([name, digest, size])
        if fixed != rows:
            with open(record, "w", newline="") as handle:
                csv.writer(handle).writerows(fixed)


if __name__ == "__main__":
    fix(sys.argv[1])
