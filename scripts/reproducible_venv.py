"""Take the build directory's traces out of the packaged venv (reproducible builds).

debian/rules runs this on debian/subsite/opt/venvs/subsite after dh_virtualenv:
it drops pyvenv.cfg's "command =" line and pip's direct_url.json (both name the
random build directory) and rehashes the bin/ scripts in RECORD (pip hashed them
with a #! line naming the build directory, which dh_virtualenv then rewrote).
"""

import base64
import csv
import hashlib
import sys
from pathlib import Path


def record_hash(data):
    """The hash as a wheel's RECORD writes it."""
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def fix(venv):
    venv = Path(venv)
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
