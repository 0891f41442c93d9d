"""Writing files as root in directories another user may write to."""

import os
import tempfile
from pathlib import Path


def write_atomically(path, text, mode=0o644, gid=None):
    """Replace ``path`` with a file holding ``text`` (str, or bytes), with ``mode`` (and group ``gid``, if given).

    The temporary file gets a fresh name (mkstemp's O_EXCL), so a link planted
    in the directory is never followed, and the rename replaces a link at
    ``path`` itself rather than what it points to.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with (open(fd, "wb") if isinstance(text, bytes) else open(fd, "w", encoding="utf-8")) as handle:
            handle.write(text)
        if gid is not None:
            os.chown(tmp, 0, gid)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
