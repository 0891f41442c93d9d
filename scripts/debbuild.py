"""Build the subsite .deb for a Debian suite in a clean chroot of that suite (importable by tests).

How: sbuild in its unshare mode, from a chroot tarball per suite made by
mmdebstrap. Why: sbuild is Debian's own build tool and does the Debian things
itself (installs build-essential, fakeroot and debian/control's Build-Depends
in the chroot, builds as an unprivileged user, writes .changes/.buildinfo);
its unshare mode needs no daemon or schroot set-up, only a subordinate id
range for the user running it (root gets one in /etc/subuid and /etc/subgid
if it has none); and every build starts from the tarball, so nothing is left
over from the last one. pbuilder would work too but is one more tool with its
own configuration; mmdebstrap alone would mean re-doing what sbuild does.

Network: sbuild cuts it for dpkg-buildpackage (Debian builds are offline), so
the pinned files of app/requirements.txt are downloaded on the host first
(hash-checked, for the chroot's Python) and pip installs them with
PIP_NO_INDEX and PIP_FIND_LINKS from a bind mount (owned by the host's root:
read-only in the chroot). debian/rules is the same as for an online build.

Speed: the tarball (.cache/sbuild/<suite>.tar.zst) already holds
build-essential, fakeroot and the Build-Depends (apt-get build-dep on
debian/control); it is remade when the Build-Depends change or after
MAX_AGE_DAYS, with the .debs of the last one as apt cache
(.cache/apt/sbuild/<suite>), so a warm build downloads nothing and skips
apt-get update. Roots are unpacked in /dev/shm when it has room (unpacking
to disk is much slower).

Versions: each build gets a changelog entry in the scratch copy,
<upstream>+deb12u1 for bookworm and <upstream>+deb13u1 for trixie (see
package_version), with the suite as distribution; the checkout is not touched.
lintian() runs the suite's own lintian in a clean root of that suite.
"""

import contextlib
import datetime
import email.utils
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOP = Path(__file__).resolve().parent.parent
BUILD = TOP / "build"
CACHE = TOP / ".cache"
PATH = "/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"
# The suites we build for and their Debian release numbers (the version suffix).
SUITES = {"bookworm": 12, "trixie": 13}
MIRROR = "http://deb.debian.org/debian"
SECURITY_MIRROR = "http://deb.debian.org/debian-security"
MAX_AGE_DAYS = 7
# Where the wheels appear inside the build chroot.
WHEELS_INSIDE = "/srv/wheels"
# sbuild's CORE_DEPENDS besides build-essential (which the buildd variant has).
SBUILD_CORE = ["fakeroot"]


class BuildError(Exception):
    """A build step failed; the message says what and what to do."""


# --------------------------------------------------------------------------
# suites and versions

def host_suite():
    """The codename of this machine's Debian release, from /etc/os-release."""
    fields = dict(re.findall(r'^(\w+)="?([^"\n]*)"?$', Path("/etc/os-release").read_text(), re.M))
    return fields.get("VERSION_CODENAME", "")


def check_suite(suite):
    """Refuse a suite we do not build for."""
    if suite not in SUITES:
        raise BuildError(f"cannot build for suite {suite!r}: choose one of {', '.join(SUITES)} "
                         "(scripts/build-deb --suite SUITE)")


# The suite suffix of a version (suffix() makes it), with the release number as group 1.
SUFFIX = r"\+deb(\d+)u\d+$"


def suffix(suite):
    """The version suffix of a build for ``suite``: +deb12u1, +deb13u1."""
    check_suite(suite)
    return f"+deb{SUITES[suite]}u1"


def package_version(upstream, suite):
    """The .deb's version: the upstream version plus the suite's suffix.

    "+" rather than "~": 1.0.0+deb13u1 sorts above the plain 1.0.0 that
    servers run, and 1.0.0~prev1+deb12u1 (the upgrade tests' older release)
    below 1.0.0+deb12u1; both would go the other way with "~debNNu1".
    """
    return upstream + suffix(suite)


def upstream_version(version):
    """``version`` without a suite suffix (the app's own version)."""
    return re.sub(SUFFIX, "", version)


def version_suite(version):
    """The suite whose suffix ends ``version`` (1.1.0+deb12u1: bookworm), or None."""
    match = re.search(SUFFIX, version)
    return next((suite for suite, number in SUITES.items() if match and int(match[1]) == number), None)


def out_dir(suite):
    """Where build-deb puts the .debs of ``suite`` by default."""
    return BUILD / "debs" / suite


# --------------------------------------------------------------------------
# the source tree

def tracked_files(top=TOP):
    """List the files git would commit in ``top``: tracked, plus untracked ones it does not ignore."""
    done = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                          cwd=top, capture_output=True, check=False)
    if done.returncode != 0:
        raise BuildError(f"{top} is not a git checkout ({done.stderr.decode().strip()}); "
                         "build-deb copies the files git tracks: pass a checkout or worktree")
    return [name for name in done.stdout.decode().split("\0") if name and (Path(top) / name).exists()]


def copy_tree(top, dest):
    """Copy the tracked files of ``top`` to ``dest``."""
    for name in tracked_files(top):
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(Path(top) / name, target, follow_symlinks=False)


def changelog_top(src):
    """(package, version, distribution, urgency part, maintainer, date) of the newest changelog entry."""
    text = (Path(src) / "debian" / "changelog").read_text()
    head = re.match(r"(\S+) \(([^)]+)\) ([^;]+)(;.*)", text.split("\n", 1)[0])
    trailer = re.search(r"^ -- (.+>)  (.+)$", text, re.M)
    if not head or not trailer:
        raise BuildError(f"cannot read the newest entry of {src}/debian/changelog")
    return (*head.groups(), *trailer.groups())


def add_changelog_entry(src, version, suite, text):
    """Put a changelog entry for ``version`` and ``suite`` on top of ``src``/debian/changelog.

    Its date is the previous entry's plus one second: the same tree gives the
    same date (and so the same SOURCE_DATE_EPOCH, for reproducible builds) and
    the entry is newer than the one before (lintian checks that).
    """
    package, _, _, urgency, maintainer, date = changelog_top(src)
    when = email.utils.format_datetime(email.utils.parsedate_to_datetime(date) + datetime.timedelta(seconds=1))
    changelog = Path(src) / "debian" / "changelog"
    changelog.write_text(f"{package} ({version}) {suite}{urgency}\n\n  * {text}\n\n"
                         f" -- {maintainer}  {when}\n\n" + changelog.read_text())


def control_fields(src):
    """The source paragraph of ``src``/debian/control as {field: value} (continuation lines joined)."""
    fields, name = {}, None
    for line in (Path(src) / "debian" / "control").read_text().split("\n\n", 1)[0].splitlines():
        if line.startswith("#"):
            continue
        if line[:1] in (" ", "\t") and name:
            fields[name] += " " + line.strip()
        elif ":" in line:
            name, value = line.split(":", 1)
            fields[name] = value.strip()
    return fields


def build_depends(src):
    """The build dependency fields of debian/control, normalised: the key of the cached chroot."""
    fields = control_fields(src)
    wanted = ("Build-Depends", "Build-Depends-Arch", "Build-Depends-Indep")
    return "\n".join(f"{name}: {' '.join(fields[name].split())}" for name in wanted if name in fields)


# --------------------------------------------------------------------------
# host set-up

def require_root(what):
    """Refuse to go on unless we are root."""
    if os.geteuid() != 0:
        raise BuildError(f"{what} makes and enters Debian chroots: run it as root")


def require_tools(tools):
    """Refuse to go on when a host tool is missing, naming the package to install."""
    missing = {pkg for tool, pkg in tools.items() if not shutil.which(tool, path=PATH)}
    if missing:
        raise BuildError(f"missing host tools: apt-get install {' '.join(sorted(missing))} "
                         "(scripts/deploy and scripts/test install them)")


def subid_ranges():
    """{file: [(user, start, count)]} of /etc/subuid and /etc/subgid."""
    ranges = {}
    for name in ("/etc/subuid", "/etc/subgid"):
        path = Path(name)
        lines = path.read_text().splitlines() if path.exists() else []
        ranges[name] = [(f[0], int(f[1]), int(f[2])) for f in (line.split(":") for line in lines)
                        if len(f) == 3 and f[1].isdigit() and f[2].isdigit()]
    return ranges


def ensure_subids(user="root", count=65536):
    """Give ``user`` subordinate uids and gids if it has none (sbuild's unshare mode maps the chroot's ids to them).

    The new range starts above every range already given, so it overlaps none;
    the line is what usermod --add-subuids/--add-subgids would write.
    """
    with locked(CACHE / "subids"):   # builds for two suites may start together
        ranges = subid_ranges()
        missing = [name for name, entries in ranges.items() if not any(entry[0] == user for entry in entries)]
        if not missing:
            return
        start = max([100000] + [first + size for entries in ranges.values() for _, first, size in entries])
        print(f"debbuild: giving {user} the subordinate ids {start}-{start + count - 1} in "
              f"{' and '.join(missing)} (sbuild's unshare mode maps the build chroot's users to them)", flush=True)
        for name in missing:
            path = Path(name)
            text = path.read_text() if path.exists() else ""
            path.write_text(text + ("\n" if text and not text.endswith("\n") else "") + f"{user}:{start}:{count}\n")


def unpack_dir():
    """Where chroots are unpacked: /dev/shm if it is an exec-able tmpfs with 4 GiB free, else /tmp."""
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        if fields[4] == "/dev/shm":
            fstype = fields[fields.index("-") + 1]
            st = os.statvfs("/dev/shm")
            if fstype == "tmpfs" and "noexec" not in fields[5].split(",") and st.f_bavail * st.f_frsize >= 4 << 30:
                return "/dev/shm"
    return "/tmp"


def host_env(**extra):
    """A clean environment for host tools (proxy settings kept)."""
    env = {"PATH": PATH, "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8"}
    env.update({k: v for k, v in os.environ.items() if k.lower() in ("http_proxy", "https_proxy", "no_proxy")})
    env.update(extra)
    return env


@contextlib.contextmanager
def locked(path):
    """Hold an exclusive lock on ``path``.lock (parallel builds make a cache entry once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{path}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


# --------------------------------------------------------------------------
# cached chroot tarballs

def sources(suite):
    """The apt sources of a chroot of ``suite``: main, updates and security."""
    return [f"deb {MIRROR} {suite} main", f"deb {MIRROR} {suite}-updates main",
            f"deb {SECURITY_MIRROR} {suite}-security main"]


def stale(stamp, key):
    """Why the tarball of ``stamp`` must be remade (key changed, too old, missing), or ''."""
    if not stamp.exists():
        return "not made yet"
    info = json.loads(stamp.read_text())
    if info.get("key") != key:
        return "its packages changed"
    days = (time.time() - info.get("created", 0)) / 86400
    return f"older than {MAX_AGE_DAYS} days" if days > MAX_AGE_DAYS else ""


def mmdebstrap(suite, tarball, variant, include=(), hooks=()):
    """Make ``tarball`` with mmdebstrap; the .debs of the last one (.cache/apt/<name>) are its apt cache."""
    apt = CACHE / "apt" / tarball.parent.name / suite
    apt.mkdir(parents=True, exist_ok=True)
    q = shlex.quote
    args = ["mmdebstrap", f"--variant={variant}", "--mode=root", "--skip=cleanup/apt/lists",
            "--aptopt=Acquire::Languages \"none\"",
            *(f"--include={pkg}" for pkg in include),
            '--setup-hook=mkdir -p "$1"/var/cache/apt/archives',
            f"--setup-hook=sync-in {q(str(apt))} /var/cache/apt/archives/",
            *(f"--customize-hook={hook}" for hook in hooks),
            # keep only what this chroot used, for the next one
            '--customize-hook=chroot "$1" apt-get autoclean -q',
            f"--customize-hook=find {q(str(apt))} -name '*.deb' -delete",
            f"--customize-hook=sync-out /var/cache/apt/archives {q(str(apt))}",
            suite, str(tarball), *sources(suite)]
    log = tarball.parent / f"{suite}.log"
    with open(log, "w") as handle:
        done = subprocess.run(args, env=host_env(TMPDIR=unpack_dir()), stdout=handle, stderr=subprocess.STDOUT,
                              check=False)
    if done.returncode != 0:
        tail = "".join(log.read_text(errors="replace").splitlines(True)[-30:])
        raise BuildError(f"mmdebstrap could not make the {suite} chroot (full log: {log}):\n{tail}\n"
                         f"Check that {MIRROR} is reachable and debian-archive-keyring knows {suite}.")


def build_chroot(suite, src):
    """The cached build chroot tarball of ``suite`` for the Build-Depends of ``src``, made if stale.

    Returns (tarball, facts) where facts has the chroot's python ("3.13"),
    glibc ("2.41") and machine ("x86_64"), read from the chroot when made.
    """
    tarball = CACHE / "sbuild" / f"{suite}.tar.zst"
    stamp = tarball.with_suffix(".json")
    key = build_depends(src)
    with locked(tarball):
        why = stale(stamp, key)
        if why:
            print(f"debbuild: making the {suite} build chroot ({why}; about 1-2 minutes)", flush=True)
            started = time.monotonic()
            work = Path(tempfile.mkdtemp(prefix="chroot-", dir=tarball.parent))
            try:
                (work / "src" / "debian").mkdir(parents=True)
                shutil.copy2(Path(src) / "debian" / "control", work / "src" / "debian" / "control")
                facts = work / "facts.json"
                probe = ("import json, platform, sys; print(json.dumps({'python': '%d.%d' % sys.version_info[:2], "
                         "'glibc': platform.libc_ver()[1], 'machine': platform.machine()}))")
                part = tarball.with_name(f"{suite}.part.tar.zst")
                mmdebstrap(suite, part, "buildd", include=SBUILD_CORE, hooks=[
                    f"copy-in {shlex.quote(str(work / 'src'))} /tmp",
                    'chroot "$1" apt-get build-dep -y -q /tmp/src',
                    'rm -rf "$1"/tmp/src',
                    f'chroot "$1" /usr/bin/python3 -c {shlex.quote(probe)} > {shlex.quote(str(facts))}',
                ])
                info = {"key": key, "created": time.time(), **json.loads(facts.read_text())}
                part.rename(tarball)
                stamp.write_text(json.dumps(info, indent=1) + "\n")
            finally:
                shutil.rmtree(work, ignore_errors=True)
            print(f"debbuild: {suite} build chroot made in {time.monotonic() - started:.0f} s", flush=True)
        return tarball, json.loads(stamp.read_text())


def lintian_chroot(suite):
    """The cached tarball of a clean ``suite`` root with lintian installed, made if stale."""
    tarball = CACHE / "lintian" / f"{suite}.tar.zst"
    stamp = tarball.with_suffix(".json")
    with locked(tarball):
        why = stale(stamp, "lintian")
        if why:
            print(f"debbuild: making the {suite} lintian chroot ({why}; about 1 minute)", flush=True)
            part = tarball.with_name(f"{suite}.part.tar.zst")
            mmdebstrap(suite, part, "apt", include=["lintian"])
            part.rename(tarball)
            stamp.write_text(json.dumps({"key": "lintian", "created": time.time()}) + "\n")
        return tarball


# A root's mounts, in a private mount (and pid) namespace: gone when it exits.
_ENTER = r"""
set -e
R="$1"; shift
mount -t proc proc "$R/proc"
mount --rbind /dev "$R/dev"
while [ "$1" != "--" ]; do
    mkdir -p "$R$2"; mount --bind -o ro "$1" "$R$2"; shift 2
done
shift
exec chroot "$R" "$@"
"""


def run_in_root(tarball, argv, binds=()):
    """Unpack ``tarball`` to a scratch root, run ``argv`` chrooted in it (no network given) and delete it.

    ``binds`` are (host directory, path inside) pairs, mounted read-only.
    Returns the CompletedProcess (text output).
    """
    root = Path(tempfile.mkdtemp(prefix="subsite-root-", dir=unpack_dir()))
    try:
        subprocess.run(["tar", "--zstd", "-xpf", str(tarball), "-C", str(root)], check=True)
        pairs = [str(p) for bind in binds for p in bind]
        return subprocess.run(["unshare", "--mount", "--propagation", "private", "--pid", "--fork", "--net",
                               "sh", "-c", _ENTER, "enter", str(root), *pairs, "--", *argv],
                              env=host_env(HOME="/root"), capture_output=True, text=True, check=False)
    finally:
        shutil.rmtree(root, ignore_errors=True)


# --------------------------------------------------------------------------
# the pinned Python files

def platforms(facts):
    """pip's --platform values the chroot's Python accepts: manylinux_2_N down to 2_5, the legacy names, linux."""
    machine, minor = facts["machine"], int(facts["glibc"].split(".")[1])
    return ([f"manylinux_2_{n}_{machine}" for n in range(minor, 4, -1)]
            + [f"manylinux2014_{machine}", f"manylinux2010_{machine}", f"manylinux1_{machine}", f"linux_{machine}"])


def wheels(suite, requirements, facts):
    """A directory with the pinned files of ``requirements`` for the chroot's Python (cached, hash-checked)."""
    digest = hashlib.sha256(Path(requirements).read_bytes()).hexdigest()[:16]
    folder = CACHE / "wheels" / f"{suite}-py{facts['python']}" / digest
    with locked(folder):
        if folder.is_dir():
            return folder
        part = Path(tempfile.mkdtemp(prefix="part-", dir=folder.parent))
        command = ["/usr/bin/python3", "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                   "--require-hashes", "--no-deps", "--only-binary=:all:", "--implementation", "cp",
                   "--python-version", facts["python"], *(f"--platform={p}" for p in platforms(facts)),
                   "-r", str(requirements), "-d", str(part)]
        done = subprocess.run(command, env=host_env(), capture_output=True, text=True, check=False)
        if done.returncode != 0:
            shutil.rmtree(part, ignore_errors=True)
            raise BuildError(
                f"pip could not download the pinned files of {requirements} for Python {facts['python']} "
                f"({suite}):\n{done.stderr.strip()[-3000:]}\nEvery pin needs a wheel for cp"
                f"{facts['python'].replace('.', '')} whose hash is in the file: regenerate it with "
                "pip-compile --generate-hashes --all-build-deps (and check that PyPI is reachable).")
        part.rename(folder)
        return folder


# --------------------------------------------------------------------------
# the build

def perl_string(text):
    """``text`` as a single-quoted Perl string."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def sbuild_config(path, wheel_dir):
    """Write the sbuild configuration of a build: wheels bind-mounted, pip offline, unprivileged build user."""
    path.write_text(
        "# Written by scripts/debbuild.py for one build.\n"
        "$build_user = 'sbuild';\n"
        f"$unshare_tmpdir_template = {perl_string(unpack_dir() + '/subsite-sbuild.XXXXXXXXXX')};\n"
        f"$unshare_bind_mounts = [ {{ directory => {perl_string(str(wheel_dir))}, "
        f"mountpoint => {perl_string(WHEELS_INSIDE)} }} ];\n"
        f"$build_environment = {{ 'PIP_NO_INDEX' => '1', 'PIP_FIND_LINKS' => {perl_string(WHEELS_INSIDE)} }};\n"
        "1;\n")


def sbuild(dsc, suite, tarball, wheel_dir, scratch):
    """Run sbuild on ``dsc`` in the ``suite`` chroot; the results land in ``scratch``/out."""
    results = scratch / "out"
    results.mkdir()
    config = scratch / "sbuild.conf"
    # The chroot's root is an unprivileged id on the host: it can mount only
    # what everyone can reach, and the checkout may sit in root's 0700 home.
    reachable = Path(tempfile.mkdtemp(prefix="subsite-wheels-", dir=unpack_dir()))
    reachable.chmod(0o755)
    for wheel in wheel_dir.iterdir():
        shutil.copy2(wheel, reachable / wheel.name)
    sbuild_config(config, reachable)
    command = ["sbuild", "--chroot-mode=unshare", f"--chroot={tarball}", f"--dist={suite}",
               "--no-apt-update", "--no-apt-upgrade", "--no-apt-distupgrade",
               "--no-run-lintian", "--no-run-piuparts", "--no-run-autopkgtest",
               f"--build-dir={results}", str(dsc)]
    # HOME is the scratch directory: no ~/.sbuildrc of the admin changes the build.
    try:
        done = subprocess.run(command, env=host_env(HOME=str(scratch), SBUILD_CONFIG=str(config)),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    finally:
        shutil.rmtree(reachable, ignore_errors=True)
    logs = sorted(p for p in results.glob("*.build") if not p.is_symlink())
    if done.returncode != 0:
        tail = "".join(logs[-1].read_text(errors="replace").splitlines(True)[-60:]) if logs else done.stdout[-4000:]
        kept = BUILD / f"failed-{suite}.build"
        if logs:
            shutil.copy2(logs[-1], kept)
        raise BuildError(f"sbuild failed for {suite} (log: {kept if logs else 'none written'}):\n{tail}")
    return results


def build(out=None, version=None, edit=None, suite=None, source=None, plain_version=False):
    """Build the .debs of ``source`` (default: this checkout) for ``suite`` into ``out``; return their paths.

    ``suite`` defaults to this machine's; ``out`` (emptied first) to
    build/debs/<suite>. The version is ``version`` (default: debian/changelog's)
    plus the suite's suffix, through a changelog entry in the scratch copy;
    ``plain_version`` keeps it as it is (to rebuild a release made before
    suite builds, such as 1.0.0 for bookworm). ``edit(src)`` may change the
    copied tree before the build (tests use it to make an older release with
    different conffiles).
    """
    suite = suite or host_suite()
    check_suite(suite)
    require_root("build-deb")
    require_tools({"sbuild": "sbuild", "mmdebstrap": "mmdebstrap", "newuidmap": "uidmap",
                   "zstd": "zstd", "dpkg-source": "dpkg-dev", "git": "git"})
    ensure_subids()
    source = Path(source or TOP).resolve()
    out = Path(out or out_dir(suite))
    BUILD.mkdir(exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f"build-{suite}-", dir=BUILD))
    src = scratch / "subsite"
    try:
        copy_tree(source, src)
        debian_version = version or changelog_top(src)[1]
        if not plain_version:
            debian_version = package_version(debian_version, suite)
        if debian_version != changelog_top(src)[1]:
            add_changelog_entry(src, debian_version, suite,
                                f"Build of {upstream_version(debian_version)} for Debian {SUITES[suite]} ({suite}).")
        if edit:
            edit(src)
        tarball, facts = build_chroot(suite, src)
        wheel_dir = wheels(suite, src / "app" / "requirements.txt", facts)
        subprocess.run(["dpkg-source", "--build", "subsite"], cwd=scratch, env=host_env(),
                       check=True, stdout=subprocess.DEVNULL)
        dsc = next(scratch.glob("*.dsc"))
        print(f"debbuild: building {dsc.name[:-4]} for {suite} with sbuild", flush=True)
        results = sbuild(dsc, suite, tarball, wheel_dir, scratch)
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        for built in results.iterdir():
            if built.suffix in (".deb", ".changes", ".buildinfo") or (built.suffix == ".build" and built.is_symlink()):
                shutil.copy2(built.resolve(), out / built.name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return sorted(out.glob("*.deb"))


# --------------------------------------------------------------------------
# lintian of the suite

def lintian(suite, changes, options=("-I", "--pedantic")):
    """Run ``suite``'s lintian on ``changes`` (and the files it lists) in a clean root of that suite.

    Returns lintian's tag lines (E:, W:, I:, P:, X:); raises BuildError if lintian itself fails.
    """
    check_suite(suite)
    require_root("lintian()")
    changes = Path(changes).resolve()
    tarball = lintian_chroot(suite)
    inside = "/srv/lintian"
    done = run_in_root(tarball, ["lintian", *options, "--fail-on", "none", f"{inside}/{changes.name}"],
                       binds=[(changes.parent, inside)])
    if done.returncode != 0:
        raise BuildError(f"lintian ({suite}) failed on {changes}:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
    return [line for line in done.stdout.splitlines() if re.match(r"[EWIPX]: ", line)]


if __name__ == "__main__":
    sys.exit("debbuild is a library: use scripts/build-deb")
