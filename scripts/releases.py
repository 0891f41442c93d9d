"""Released versions the upgrade tests start from, built from their own commits.

Release 1.0.0 is the commit tagged v1.0.0 on main. Its id is recorded here
because a tag does not travel with every clone; the build uses a git worktree
of that commit, so the release is exactly what servers run, not this tree
with another version number.
"""

import subprocess
from pathlib import Path

import debbuild

PREVIOUS = ("1.0.0", "e527e843bdc4a7d31650f145b01181d78307cdc3")


def source(commit):
    """A git worktree of ``commit`` under build/ (made once), to build that release from."""
    tree = debbuild.BUILD / f"source-{commit[:12]}"
    if not (tree / "debian" / "changelog").exists():
        git = ["git", "-C", str(debbuild.TOP)]
        subprocess.run([*git, "worktree", "prune"], check=True)
        subprocess.run([*git, "worktree", "add", "--force", "--detach", str(tree), commit], check=True,
                       stdout=subprocess.DEVNULL)
    return tree


def field(deb, name):
    """A control field of the .deb file ``deb``."""
    return subprocess.run(["dpkg-deb", "-f", str(deb), name], check=True, capture_output=True,
                          text=True).stdout.strip()


def previous_debs(out=None):
    """The previous release's .debs for bookworm, the one suite it was released for: built once
    from its commit into build/debs-<version>/, with the plain version servers run."""
    version, commit = PREVIOUS
    out = Path(out or debbuild.BUILD / f"debs-{version}")
    built = sorted(out.glob("*.deb"))
    if built and all(field(deb, "Version") == version for deb in built):
        return built
    return debbuild.build(out=out, source=source(commit), suite="bookworm", plain_version=True)
