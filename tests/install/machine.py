"""A throw-away Debian "machine" for install tests: bookworm or trixie, with or without systemd.

A Machine is a directory holding a fresh minbase root (mmdebstrap, with systemd),
a local apt repository (/srv/repo) with the .debs under test, and the apt cache
filled (with network, from the host) for the packages the test will install.
``boot()`` then starts private network/pid/mount/ipc/uts namespaces with a tiny
reaping init as PID 1 (``init="sysv"``: no systemd, the way containers and the
build machines run), or boots the root's own systemd as PID 1 in a
systemd-nspawn container (``init="systemd"``: what a Debian server runs);
``run()`` executes shell commands inside,
``http()``/``wait_http()``/``raw()`` talk to servers on the namespace's loopback.  The booted
machine has no network but its own loopback, so installs must use the
pre-downloaded packages (``install()`` passes ``--no-download``).
To install as a host does, from a signed repository over HTTP instead of the
trusted /srv/repo: ``drop_local_repo()``, then ``serve(directory)`` (an HTTP
server on 127.0.0.1 in the machine's network namespace) and the repository's
keyring and .sources in /etc/apt (tests/install/test_publish.py).

Needs root, util-linux (unshare, nsenter, mount), iproute2, tar, mmdebstrap
(only to build the base), apt-utils (apt-ftparchive) and systemd-container
(systemd-nspawn).  Everything runs with
Debian's /usr/bin/python3, never a python found on PATH.

    with Machine.create(debs=[...], download=["subsite"]) as m:
        m.install("subsite")
        assert m.http("GET", "http://127.0.0.1/subsite/").status == 200
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parents[2]
CACHE_DIR = REPO_DIR / ".cache"
HOST_PYTHON = "/usr/bin/python3"

SUITE = "bookworm"
SUITES = {"bookworm": "12", "trixie": "13"}
VARIANT = "minbase"
MIRROR = "http://deb.debian.org/debian"
HOSTNAME = "subsite-test"
INITS = ("systemd", "sysv")
# What a server booting systemd has beyond minbase (mmdebstrap --include).
SYSTEMD_PACKAGES = ("systemd", "systemd-sysv", "dbus")

# procps' /usr/lib/sysctl.d/99-protect-links.conf: what a real Debian server
# boots with. These kernel settings are not per namespace: the tests set them
# for the whole run (debian_kernel_defaults) and put back what was there.
DEBIAN_SYSCTLS = {"fs.protected_fifos": "1", "fs.protected_hardlinks": "1",
                  "fs.protected_regular": "2", "fs.protected_symlinks": "1"}

CLEAN_ENV = {
    "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    "DEBIAN_FRONTEND": "noninteractive",
    "LANG": "C.UTF-8",
    "HOME": "/root",
    "TERM": "dumb",
}

# Every Machine appends (label, seconds) here; conftest prints it at the end.
TIMINGS: list[tuple[str, float]] = []


# --------------------------------------------------------------------------
# helpers

def sh(cmd, *, input=None, check=True, env=None, timeout=600) -> subprocess.CompletedProcess:
    """Run a host command (list or shell string); on failure raise a readable AssertionError.

    Output goes to temp files, not pipes, so daemons that keep stdout/stderr
    open do not block us: we return when the command itself exits.  The command
    gets its own session and the whole group is killed on timeout.
    """
    if isinstance(input, str):
        input = input.encode()
    with tempfile.TemporaryFile() as out_f, tempfile.TemporaryFile() as err_f:
        proc = subprocess.Popen(
            cmd, shell=isinstance(cmd, str), env=CLEAN_ENV if env is None else env,
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=out_f, stderr=err_f, start_new_session=True,
        )
        timed_out = False
        try:
            proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        out_f.seek(0)
        err_f.seek(0)
        out = out_f.read().decode("utf-8", "replace")
        err = err_f.read().decode("utf-8", "replace")
    if timed_out:
        raise AssertionError(_failure(cmd, f"timed out after {timeout}s", out, err))
    res = subprocess.CompletedProcess(cmd, proc.returncode, out, err)
    if check and res.returncode != 0:
        raise AssertionError(_failure(cmd, f"exit code {res.returncode}", res.stdout, res.stderr))
    return res


def _failure(cmd, what, out, err, tail=3000) -> str:
    if isinstance(out, bytes):
        out = out.decode("utf-8", "replace")
    if isinstance(err, bytes):
        err = err.decode("utf-8", "replace")
    shown = cmd if isinstance(cmd, str) else shlex.join(cmd)
    return (f"command failed ({what}):\n  {shown}\n"
            f"--- stdout (tail) ---\n{(out or '')[-tail:]}\n"
            f"--- stderr (tail) ---\n{(err or '')[-tail:]}")


@contextlib.contextmanager
def _locked(path: Path):
    """Exclusive lock on PATH.lock, so parallel sessions build a cache entry once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{path}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _record(label: str, seconds: float) -> None:
    TIMINGS.append((label, seconds))


def _mounts_under(path: Path) -> list[str]:
    """Host mount points at or below PATH (must be empty before deleting a root)."""
    prefix = str(path.resolve())
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point == prefix or point.startswith(prefix + "/"):
            found.append(point)
    return found


def machine_tmpdir() -> str:
    """Where machine roots are made: $SUBSITE_MACHINE_TMPDIR, else /dev/shm if it is
    a tmpfs allowing exec and setuid with 2 GiB free (extracting there takes
    ~0.3 s against 1-8 s on a busy disk), else the system temp dir."""
    if os.environ.get("SUBSITE_MACHINE_TMPDIR"):
        return os.environ["SUBSITE_MACHINE_TMPDIR"]
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        if fields[4] == "/dev/shm":
            sep = fields.index("-")
            fstype, opts = fields[sep + 1], fields[5].split(",")
            st = os.statvfs("/dev/shm")
            if (fstype == "tmpfs" and "noexec" not in opts and "nosuid" not in opts
                    and st.f_bavail * st.f_frsize >= 2 << 30):
                return "/dev/shm"
    return tempfile.gettempdir()


@contextlib.contextmanager
def debian_kernel_defaults(values=DEBIAN_SYSCTLS):
    """Set Debian's link-protection sysctls for the duration, then put back what was there."""
    before = {}
    try:
        for name, value in values.items():
            path = Path("/proc/sys") / name.replace(".", "/")
            before[path] = path.read_text().strip()
            path.write_text(value)
        yield
    finally:
        for path, value in before.items():
            path.write_text(value)


def debian_sources(suite: str, mirror: str = MIRROR) -> str:
    """Debian's mirror for ``suite`` as a deb822 sources file, as the installer writes it."""
    return (f"Types: deb\nURIs: {mirror}\nSuites: {suite} {suite}-updates\nComponents: main\n"
            "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
            f"Types: deb\nURIs: {mirror.replace('/debian', '/debian-security')}\nSuites: {suite}-security\n"
            "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")


def base_root(cache_dir: Path = CACHE_DIR, suite: str = SUITE, mirror: str = MIRROR) -> Path:
    """Return a cached tarball of a pristine root of ``suite``, building it if missing.

    minbase plus systemd (SYSTEMD_PACKAGES), as a server has: machines that
    boot systemd start it as PID 1, the others leave it installed and not
    running, as a container does. Made by mmdebstrap (a third of debootstrap's
    time), cached as CACHE/rootfs/<suite>-minbase-systemd.tar, without apt's
    lists and .debs. Delete the file to rebuild.
    """
    cache_dir = Path(cache_dir)
    tar = cache_dir / "rootfs" / f"{suite}-{VARIANT}-systemd.tar"
    with _locked(tar):
        if tar.exists():
            return tar
        t0 = time.monotonic()
        tmp = tar.with_suffix(".tar.part")
        sh(["mmdebstrap", "--quiet", "--format=tar", f"--variant={VARIANT}",
            f"--include={','.join(SYSTEMD_PACKAGES)}",
            # systemd makes a machine id at each boot
            "--customize-hook=: > \"$1/etc/machine-id\"", suite, str(tmp), mirror], timeout=1800)
        tmp.rename(tar)
        _record(f"base root tarball ({tar.name})", time.monotonic() - t0)
        return tar


# --------------------------------------------------------------------------
# inside the namespaces

# Mounts a root needs to run maintainer scripts.  Run by a shell that is already
# in a private mount namespace (and the machine's pid namespace, for /proc), so
# nothing of this is visible on the host and it all goes away with the namespace.
_MOUNTS = r"""
set -e
R="$1"
mount -t proc proc "$R/proc"
mount -t sysfs -o ro sysfs "$R/sys"
mount -t tmpfs -o mode=755,nosuid,size=64m tmpfs "$R/dev"
for n in null zero full random urandom tty; do
    touch "$R/dev/$n"; mount --bind "/dev/$n" "$R/dev/$n"
done
mkdir -p "$R/dev/pts" "$R/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$R/dev/pts"
ln -s pts/ptmx "$R/dev/ptmx"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$R/dev/shm"
ln -s /proc/self/fd "$R/dev/fd"
ln -s /proc/self/fd/0 "$R/dev/stdin"
ln -s /proc/self/fd/1 "$R/dev/stdout"
ln -s /proc/self/fd/2 "$R/dev/stderr"
mount -t tmpfs -o mode=755,nosuid,nodev,size=256m tmpfs "$R/run"
mkdir -m 1777 "$R/run/lock"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$R/tmp"
"""

# PID 1 of a booted machine: sets the hostname, tells the host it is up, then
# reaps every orphan (daemons double-fork and end up here).  It exits, taking
# the whole machine with it, when killed or when its stdin (a pipe held by the
# Machine object) closes, so a crashed test run leaves no machine running.
_INIT = r"""
import os, signal, socket, sys
def reap(*_):
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass
signal.signal(signal.SIGCHLD, reap)
signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
socket.sethostname(sys.argv[1])
print("READY", flush=True)
os.close(1)
while os.read(0, 1):
    pass
"""

# Run by the host python inside the machine's network namespace: one HTTP
# request described by JSON on stdin, JSON result on stdout.
_HTTP_CLIENT = r"""
import base64, http.client, json, sys
a = json.load(sys.stdin)
try:
    c = http.client.HTTPConnection(a["host"], a["port"], timeout=a["timeout"])
    c.putrequest(a["method"], a["target"], skip_host=True, skip_accept_encoding=True)
    for k, v in a["headers"]:
        c.putheader(k, v)
    body = base64.b64decode(a["body"]) if a["body"] is not None else None
    if body is not None and not any(k.lower() in ("content-length", "transfer-encoding") for k, _ in a["headers"]):
        c.putheader("Content-Length", str(len(body)))
    c.endheaders(body)
    r = c.getresponse()
    data = r.read()
    out = {"status": r.status, "reason": r.reason, "version": r.version,
           "headers": r.getheaders(), "body": base64.b64encode(data).decode()}
except Exception as e:
    out = {"error": f"{type(e).__name__}: {e}"}
json.dump(out, sys.stdout)
"""

_RAW_CLIENT = r"""
import base64, json, socket, sys
a = json.load(sys.stdin)
s = socket.create_connection((a["host"], a["port"]), timeout=a["timeout"])
s.sendall(base64.b64decode(a["data"]))
if a["half_close"]:
    s.shutdown(socket.SHUT_WR)
chunks = []
try:
    while True:
        b = s.recv(65536)
        if not b:
            break
        chunks.append(b)
except (socket.timeout, ConnectionResetError):
    pass
sys.stdout.write(base64.b64encode(b"".join(chunks)).decode())
"""


class Headers:
    """Case-insensitive, multi-valued response headers (every Set-Cookie is kept)."""

    def __init__(self, items):
        self._items = [(k, v) for k, v in items]

    def get_all(self, name: str) -> list[str]:
        return [v for k, v in self._items if k.lower() == name.lower()]

    def get(self, name: str, default=None):
        vals = self.get_all(name)
        return vals[0] if vals else default

    def __getitem__(self, name: str) -> str:
        vals = self.get_all(name)
        if not vals:
            raise KeyError(name)
        return vals[0]

    def __contains__(self, name) -> bool:
        return bool(self.get_all(name))

    def items(self):
        return list(self._items)

    def __repr__(self):
        return f"Headers({self._items!r})"


class Response:
    """One HTTP response: status, reason, headers (Headers), body (bytes), text, json()."""

    def __init__(self, status, reason, headers, body):
        self.status, self.reason, self.headers, self.body = status, reason, Headers(headers), body

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<Response {self.status} {self.reason} {len(self.body)} bytes>"


_URL = re.compile(r"^(?:http://(?P<netloc>[^/?#]*))?(?P<target>.*)$", re.S)


def serve_http(pid: int, directory: Path | str) -> tuple[subprocess.Popen, str]:
    """Serve the host's DIRECTORY over HTTP on 127.0.0.1 in the network namespace of host process PID.

    A ``python3 -m http.server`` in that namespace alone (the files stay the
    host's, as on another server), on a port it picks itself. Returns the
    server process (kill it when done) and its URL.
    """
    server = subprocess.Popen(
        ["nsenter", "--net", "--target", str(pid), HOST_PYTHON, "-I", "-u", "-m", "http.server",
         "--bind", "127.0.0.1", "--directory", str(directory), "0"],
        env=CLEAN_ENV, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        start_new_session=True)
    line = server.stdout.readline().decode(errors="replace")   # "Serving HTTP on 127.0.0.1 port N ..."
    port = re.search(r" port (\d+) ", line)
    if not port:
        server.kill()
        raise AssertionError(f"the HTTP server for {directory} did not start: {line!r}")
    return server, f"http://127.0.0.1:{port[1]}"


class Machine:
    """A Debian root in a temp dir that can be booted into its own namespaces.

    Steps, each timed into ``self.timings`` (and module TIMINGS):
    ``extract(tar)`` -> ``add_repo(debs)`` -> ``download(packages)`` -> ``boot()``.
    ``Machine.create(...)`` does all four.  Use as a context manager or call
    ``shutdown()``.
    """

    init = "sysv"

    def __init__(self, root_dir: Path | str | None = None, cache_dir: Path | str = CACHE_DIR,
                 suite: str = SUITE):
        """ROOT_DIR becomes the machine's / (must be missing or empty); default: a new
        temp dir under machine_tmpdir(). SUITE is bookworm or trixie."""
        if suite not in SUITES:
            raise ValueError(f"suite must be one of {', '.join(SUITES)}, not {suite!r}")
        self.suite = suite
        self.cache_dir = Path(cache_dir)
        if root_dir is None:
            self.root = Path(tempfile.mkdtemp(prefix="subsite-machine-", dir=machine_tmpdir()))
        else:
            self.root = Path(root_dir)
            self.root.mkdir(parents=True, exist_ok=True)
            if any(self.root.iterdir()):
                raise ValueError(f"{self.root} is not empty; a Machine needs a fresh directory")
        self.root = self.root.resolve()
        self.pid: int | None = None      # host PID of the namespace's PID 1
        self._unshare: subprocess.Popen | None = None
        self.timings: dict[str, float] = {}
        self.hostname = HOSTNAME
        self._servers: list[subprocess.Popen] = []   # serve()'s HTTP servers

    # ---- lifecycle -------------------------------------------------------

    @classmethod
    def create(cls, debs=(), download=None, *, root_dir=None, cache_dir=CACHE_DIR,
               boot=True, init="sysv", suite=SUITE) -> "Machine":
        """Extract the base root, add DEBS as /srv/repo, pre-download DOWNLOAD, boot.

        DOWNLOAD defaults to the package names of DEBS.  INIT is "sysv" (a
        Machine) or "systemd" (a SystemdMachine).  On failure the machine is
        shut down (temp root removed) before the error propagates.
        """
        if init not in INITS:
            raise ValueError(f"init must be one of {', '.join(INITS)}, not {init!r}")
        if cls is Machine and init == "systemd":
            cls = SystemdMachine
        m = cls(root_dir, cache_dir, suite)
        try:
            m.extract(m.base())
            m.add_repo(debs)
            names = list(download) if download is not None else [deb_package_name(d) for d in debs]
            m.download(names)
            if boot:
                m.boot()
        except BaseException:
            m.shutdown()
            raise
        return m

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.shutdown()

    def _time(self, label: str, t0: float) -> None:
        self.timings[label] = time.monotonic() - t0
        _record(label, self.timings[label])

    def base(self) -> Path:
        """The base root tarball this machine starts from."""
        return base_root(self.cache_dir, self.suite)

    def extract(self, base_tar: Path) -> None:
        """Unpack the pristine base tarball into the root."""
        t0 = time.monotonic()
        sh(["tar", "--numeric-owner", "--xattrs", "-xpf", str(base_tar), "-C", str(self.root)])
        self.root.chmod(0o755)  # / must be traversable by service users (mkdtemp gives 0700)
        self._time("extract", t0)

    def add_repo(self, debs=()) -> None:
        """Set up apt in the root: /srv/repo from DEBS, the host's sources, policy-rc.d.

        Also copies the host's resolv.conf, writes /etc/hostname and /etc/hosts,
        and makes dpkg skip fsync (speed only).
        """
        r = self.root
        repo = r / "srv/repo"
        repo.mkdir(parents=True, exist_ok=True)
        for deb in debs:
            shutil.copy2(deb, repo / Path(deb).name)
        if not shutil.which("apt-ftparchive"):
            sh(["apt-get", "install", "-y", "--no-install-recommends", "apt-utils"])
        # apt-ftparchive writes paths relative to its cwd: run it inside the repo.
        q = shlex.quote(str(repo))
        sh(f"cd {q} && apt-ftparchive packages . > Packages && apt-ftparchive release . > Release")

        apt = r / "etc/apt"
        # Debian's mirror for the suite (with updates and security), as the Debian
        # installer writes it; nothing but Debian's mirror is reachable.
        (apt / "sources.list").write_text("")
        (apt / "sources.list.d/debian.sources").write_text(debian_sources(self.suite))
        (apt / "sources.list.d/local-repo.list").write_text("deb [trusted=yes] file:/srv/repo ./\n")
        (apt / "apt.conf.d/99-install-tests").write_text(
            'APT::Install-Recommends "false";\nAcquire::Languages "none";\n')
        (r / "etc/dpkg/dpkg.cfg.d/99-install-tests").write_text("force-unsafe-io\n")
        resolv = r / "etc/resolv.conf"
        if resolv.is_symlink() or resolv.exists():
            resolv.unlink()
        shutil.copy2("/etc/resolv.conf", resolv)
        (r / "etc/hostname").write_text(self.hostname + "\n")
        hosts = r / "etc/hosts"   # mmdebstrap writes none; the Debian installer writes this
        if not hosts.exists():
            hosts.write_text(f"127.0.0.1\tlocalhost\n127.0.1.1\t{self.hostname}\n"
                             "::1\tlocalhost ip6-localhost ip6-loopback\n"
                             "ff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")
        if self.init == "sysv":
            # chroot-like roots usually forbid service starts; here they may start.
            policy = r / "usr/sbin/policy-rc.d"
            policy.write_text("#!/bin/sh\n# install tests: services may start\nexit 0\n")
            policy.chmod(0o755)

    def drop_local_repo(self) -> None:
        """Take away /srv/repo, its ``[trusted=yes]`` source and apt's lists of it.

        The packages under test must then come from a source the test adds, as
        on a host (a signed repository: see serve()); Debian's packages stay in
        the apt cache that download() filled.
        """
        (self.root / "etc/apt/sources.list.d/local-repo.list").unlink()
        shutil.rmtree(self.root / "srv/repo")
        for lists in (self.root / "var/lib/apt/lists").glob("_srv_repo_*"):
            lists.unlink()

    def download(self, packages) -> None:
        """``apt-get update`` and ``apt-get install --download-only`` PACKAGES, with network.

        The resulting apt lists and .debs are cached under CACHE/downloads, keyed
        on the package list, the repo's .debs, the base tarball and the host's apt
        sources; delete that directory to fetch fresh package versions.
        """
        t0 = time.monotonic()
        key = self._download_key(packages)
        cached = self.cache_dir / "downloads" / f"{key}.tar"
        with _locked(cached):
            if cached.exists():
                sh(["tar", "-xpf", str(cached), "-C", str(self.root)])
                self._time("download (cached)", t0)
                return
            pkgs = " ".join(shlex.quote(p) for p in packages)
            self._chroot_with_network(
                "apt-get update -q"
                + (f" && apt-get install -q -y --download-only {pkgs}" if pkgs else ""))
            tmp = cached.with_suffix(".tar.part")
            sh(["tar", "-C", str(self.root), "-cf", str(tmp),
                "--exclude=*/partial", "--exclude=*/lock",
                "var/lib/apt/lists", "var/cache/apt/archives"])
            tmp.rename(cached)
        self._time("download", t0)

    def add_release_mirror(self, suite: str, debs, packages) -> None:
        """Put Debian's upgrade to SUITE in the machine, for an offline release upgrade.

        With network, a scratch root of the same base installs PACKAGES (with
        this machine's repository), switches its sources to SUITE (Debian's and
        /srv/repo-SUITE, holding DEBS, the package's build for SUITE) and
        downloads what `apt full-upgrade` needs. Those .debs become a flat
        repository at /srv/mirror/SUITE here, standing in for deb.debian.org
        (the machine has no network); DEBS go to /srv/repo-SUITE. Cached under
        CACHE/downloads like download().
        """
        t0 = time.monotonic()
        mirror, repo = self.root / "srv/mirror" / suite, self.root / f"srv/repo-{suite}"
        repo.mkdir(parents=True)
        for deb in debs:
            shutil.copy2(deb, repo / Path(deb).name)
        sh(f"cd {shlex.quote(str(repo))} && apt-ftparchive packages . > Packages && apt-ftparchive release . > Release")
        key = hashlib.sha256(f"{suite} {sorted(packages)} {self._download_key(packages)}".encode())
        for deb in sorted(repo.glob("*.deb")):
            key.update(_sha256(deb).encode())
        cached = self.cache_dir / "downloads" / f"mirror-{key.hexdigest()[:24]}.tar"
        with _locked(cached):
            if not cached.exists():
                self._fetch_release_upgrade(suite, packages, cached)
            mirror.mkdir(parents=True)
            sh(["tar", "-xf", str(cached), "-C", str(mirror)])
        sh(f"cd {shlex.quote(str(mirror))} && apt-ftparchive packages . > Packages && apt-ftparchive release . > Release")
        self._time(f"release mirror {suite}", t0)

    def _fetch_release_upgrade(self, suite, packages, cached) -> None:
        scratch = Machine(cache_dir=self.cache_dir, suite=self.suite)
        try:
            scratch.extract(self.base())
            shutil.copytree(self.root / "srv", scratch.root / "srv", dirs_exist_ok=True)
            shutil.copytree(self.root / "etc/apt", scratch.root / "etc/apt", dirs_exist_ok=True)
            shutil.copy2("/etc/resolv.conf", scratch.root / "etc/resolv.conf")
            policy = scratch.root / "usr/sbin/policy-rc.d"
            policy.write_text("#!/bin/sh\nexit 101\n")
            policy.chmod(0o755)
            sources = scratch.root / "etc/apt/sources.list.d"
            pkgs = " ".join(shlex.quote(p) for p in packages)
            scratch._chroot_with_network(f"apt-get update -q && apt-get install -q -y {pkgs} && apt-get clean")
            (sources / "debian.sources").write_text(debian_sources(suite))
            (sources / "local-repo.list").write_text(f"deb [trusted=yes] file:/srv/repo-{suite} ./\n")
            scratch._chroot_with_network("apt-get update -q && apt-get full-upgrade -q -y --download-only",
                                         timeout=1800)
            tmp = cached.with_suffix(".tar.part")
            sh(f"cd {shlex.quote(str(scratch.root / 'var/cache/apt/archives'))} && tar -cf {shlex.quote(str(tmp))} "
               "--exclude=partial --exclude=lock .")
            tmp.rename(cached)
        finally:
            scratch.shutdown()

    def _download_key(self, packages) -> str:
        h = hashlib.sha256()
        h.update(json.dumps(sorted(packages)).encode())
        for deb in sorted((self.root / "srv/repo").glob("*.deb")):
            h.update(f"{deb.name} {_sha256(deb)}\n".encode())
        base = self.base()
        h.update(f"{base.name} {base.stat().st_size} {base.stat().st_mtime_ns}\n".encode())
        for f in sorted((self.root / "etc/apt").rglob("*")):
            if f.is_file() and f.suffix in (".list", ".sources", ""):
                h.update(f.read_bytes())
        return h.hexdigest()[:24]

    def _chroot_with_network(self, cmd: str, timeout=900) -> subprocess.CompletedProcess:
        """Run CMD chrooted with the host's network (only for the download step)."""
        script = _MOUNTS + 'shift\nexec chroot "$R" /bin/sh -c "$1"\n'
        return sh(["unshare", "--mount", "--propagation", "private", "--pid", "--fork",
                   "/bin/sh", "-c", script, "mounts", str(self.root), cmd], timeout=timeout)

    def boot(self, timeout=30, net=None) -> None:
        """Start the namespaces with a reaping PID 1; records its host PID in ``self.pid``.

        With NET (the host PID of a process in another network namespace, such
        as a cluster.Network), the machine joins that namespace instead of
        getting its own: several machines then reach each other on loopback.
        """
        if self.pid:
            raise RuntimeError("machine already booted")
        t0 = time.monotonic()
        script = _MOUNTS + 'ip link set lo up\nexec "$2" -c "$3" "$4"\n'
        join = ["nsenter", f"--net=/proc/{net}/ns/net"] if net else []
        self._unshare = subprocess.Popen(
            [*join, "unshare", *([] if net else ["--net"]), "--pid", "--fork", "--mount", "--ipc", "--uts",
             "--propagation", "private",
             "/bin/sh", "-c", script, "boot", str(self.root), HOST_PYTHON, _INIT, self.hostname],
            env=CLEAN_ENV, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, start_new_session=True)
        line = self._unshare.stdout.readline()   # the init prints READY once mounts are done
        if line.strip() != b"READY":
            self._unshare.kill()
            _, err = self._unshare.communicate(timeout=timeout)
            raise AssertionError(f"machine did not boot: {line!r}\n{err.decode(errors='replace')}")
        self.pid = self._init_pid(timeout)
        self._time("boot", t0)

    def _init_pid(self, timeout) -> int:
        """Host PID of the child that unshare forked (PID 1 inside)."""
        deadline = time.monotonic() + timeout
        parent = self._unshare.pid
        while time.monotonic() < deadline:
            children = Path(f"/proc/{parent}/task/{parent}/children")
            if children.exists():
                pids = children.read_text().split()
            else:
                pids = [p.name for p in Path("/proc").iterdir() if p.name.isdigit()
                        and _ppid(p.name) == parent]
            if pids:
                return int(pids[0])
            time.sleep(0.05)
        raise AssertionError(f"could not find the init process under unshare pid {parent}")

    def shutdown(self) -> None:
        """Kill PID 1 (and so every process in the machine), then delete the root."""
        self.kill()
        if self.root.exists():
            leftover = _mounts_under(self.root)
            if leftover:  # never rm -rf through a mount
                raise AssertionError(f"mounts left under {self.root}, not deleting: {leftover}")
            shutil.rmtree(self.root)

    def kill(self) -> None:
        """Kill PID 1, and so every process in the machine, as a host that loses power; the root stays.

        boot() starts it again (without systemd, nothing starts its services).
        """
        self._stop_servers()
        if self._unshare is not None:
            if self.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
            try:
                self._unshare.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._unshare.kill()
                self._unshare.wait()
            for pipe in (self._unshare.stdin, self._unshare.stdout, self._unshare.stderr):
                pipe.close()
            self._unshare = None
            self.pid = None

    # ---- using a booted machine -----------------------------------------

    def _need_pid(self) -> int:
        if not self.pid:
            raise RuntimeError("machine is not booted; call boot() first")
        return self.pid

    def _nsenter(self, *namespaces: str) -> list[str]:
        return ["nsenter", "-t", str(self._need_pid()), *namespaces]

    def run(self, cmd: str, input=None, check=True, env=None, timeout=300) -> subprocess.CompletedProcess:
        """Run shell command CMD as root inside the machine (chrooted, no network).

        The environment is CLEAN_ENV plus ENV; stdin is INPUT (str/bytes) or
        /dev/null.  Returns a CompletedProcess with text stdout/stderr; with
        CHECK a non-zero exit raises AssertionError with the output tails.
        """
        full = self._nsenter("--net", "--pid", "--mount", "--ipc", "--uts") + [
            "chroot", str(self.root), "/bin/sh", "-c", cmd]
        res = sh(full, input=input, check=False, env={**CLEAN_ENV, **(env or {})}, timeout=timeout)
        res.args = cmd
        if check and res.returncode != 0:
            raise AssertionError(_failure(cmd, f"exit code {res.returncode}", res.stdout, res.stderr))
        return res

    def install(self, *packages: str, timeout=600) -> subprocess.CompletedProcess:
        """``apt-get install -y --no-download PACKAGES`` (from the pre-downloaded cache)."""
        t0 = time.monotonic()
        res = self.run("apt-get install -q -y "
                       + " ".join(shlex.quote(p) for p in packages), timeout=timeout)
        self._time(f"install {' '.join(packages)}", t0)
        return res

    def _host_python_in_net(self, script: str, args: dict, timeout: float) -> str:
        cmd = self._nsenter("--net") + [HOST_PYTHON, "-I", "-c", script]
        return sh(cmd, input=json.dumps(args), env=CLEAN_ENV, timeout=timeout + 5).stdout

    def http(self, method: str, url: str, headers=None, body=None, timeout=10) -> Response:
        """Send one HTTP request to a server inside the machine; return a Response.

        URL is ``http://HOST[:PORT]TARGET`` or just TARGET (127.0.0.1:80); TARGET
        is sent exactly as given (http.client refuses only spaces and control
        characters: use raw() for those).  HEADERS is a dict or list of pairs;
        Host defaults to the URL's HOST[:PORT] unless given; Content-Length is
        added for a BODY (str or bytes).  Connection errors raise AssertionError.
        """
        m = _URL.match(url)
        netloc = m["netloc"] or "127.0.0.1"
        target = m["target"] or "/"
        hp = re.fullmatch(r"\[?(?P<host>[^\]]*?)\]?(?::(?P<port>\d+))?", netloc)
        host, port = hp["host"], hp["port"] or 80
        pairs = list(headers.items() if isinstance(headers, dict) else headers or [])
        if not any(k.lower() == "host" for k, _ in pairs):
            pairs.insert(0, ("Host", netloc))
        if isinstance(body, str):
            body = body.encode()
        args = {"method": method, "host": host, "port": int(port), "target": target,
                "headers": pairs, "timeout": timeout,
                "body": base64.b64encode(body).decode() if body is not None else None}
        out = json.loads(self._host_python_in_net(_HTTP_CLIENT, args, timeout))
        if "error" in out:
            raise AssertionError(f"{method} {url} failed inside the machine: {out['error']}")
        return Response(out["status"], out["reason"], out["headers"], base64.b64decode(out["body"]))

    def wait_http(self, url: str, status=200, timeout=15, **kwargs) -> Response:
        """GET (or kwargs["method"]) URL until it answers STATUS; return that Response.

        For servers that start or reload asynchronously (nginx reload, uwsgi
        start return before the new workers answer).  After TIMEOUT seconds
        raise AssertionError with the last answer.
        """
        method = kwargs.pop("method", "GET")
        deadline = time.monotonic() + timeout
        while True:
            try:
                last = self.http(method, url, **kwargs)
                if last.status == status:
                    return last
                last = f"{last.status} {last.text[:500]}"
            except AssertionError as e:  # not listening yet
                last = str(e)
            if time.monotonic() > deadline:
                raise AssertionError(f"{method} {url} did not answer {status} within {timeout}s; "
                                     f"last: {last}")
            time.sleep(0.2)

    def raw(self, data: bytes | str, port=80, host="127.0.0.1", timeout=10,
            half_close=False) -> bytes:
        """Send DATA as-is over TCP to HOST:PORT inside the machine; return all bytes read.

        Reads until the server closes or TIMEOUT passes without data; with
        HALF_CLOSE, shuts down the writing side after sending.
        """
        if isinstance(data, str):
            data = data.encode()
        args = {"host": host, "port": port, "timeout": timeout, "half_close": half_close,
                "data": base64.b64encode(data).decode()}
        return base64.b64decode(self._host_python_in_net(_RAW_CLIENT, args, timeout))

    def serve(self, directory: Path | str) -> str:
        """Serve the host's DIRECTORY over HTTP on 127.0.0.1 inside the machine; return its URL.

        The web server an apt repository is published on (serve_http); it
        stops with the machine.
        """
        server, url = serve_http(self._need_pid(), directory)
        self._servers.append(server)
        return url

    def _stop_servers(self) -> None:
        for server in self._servers:
            server.kill()
            server.wait()
            server.stdout.close()
        self._servers.clear()

    def proc(self) -> Path:
        """The machine's /proc as seen from the host (through its init's mount namespace)."""
        return Path(f"/proc/{self._need_pid()}/root{self.root}/proc")

    def oneshot(self, cmd: str, check=True, timeout=600) -> subprocess.CompletedProcess:
        """Run CMD the way cron or unattended-upgrades would; here, as run() (no systemd to ask)."""
        return self.run(cmd, check=check, timeout=timeout)

    def processes(self) -> list[tuple[int, str]]:
        """(pid, command line) of every process in the machine, pids as seen inside.

        Read from the host through the init's mount namespace (/proc/PID/root),
        so nothing is started inside to look.
        """
        proc = self.proc()
        found = []
        for p in proc.iterdir():
            if p.name.isdigit():
                with contextlib.suppress(OSError):
                    cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                    found.append((int(p.name), cmd.strip()))
        return sorted(found)


class SystemdMachine(Machine):
    """A Machine whose root boots its own systemd as PID 1, in a systemd-nspawn container.

    The container has its own network (only lo), PID, mount, IPC and UTS
    namespaces and a cgroup tree of its own (cgroup v2 inside, as on a Debian
    12 or 13 server), so services run in their units' cgroups and
    ``systemctl``, ``systemd-run`` and reboots behave as on a server.
    ``run()`` enters every namespace of the container (nsenter -a) the way an
    ssh shell would reach it: outside any unit. nspawn does not need systemd
    on the host (--register=no --keep-unit).
    """

    init = "systemd"
    _names = 0

    def __init__(self, root_dir=None, cache_dir=CACHE_DIR, suite=SUITE):
        super().__init__(root_dir, cache_dir, suite)
        SystemdMachine._names += 1
        self.name = f"subsite-{os.getpid()}-{SystemdMachine._names}"
        self._nspawn: subprocess.Popen | None = None

    def _cgroups(self) -> list[Path]:
        """The host cgroups the container lives in: its own, in each hierarchy there is."""
        found = []
        for hierarchy in ("systemd", "unified", ""):
            top = Path("/sys/fs/cgroup") / hierarchy
            if (top / "cgroup.procs").exists():
                found.append(top / f"machine-{self.name}")
        return found

    def boot(self, timeout=90, network=False, net=None) -> None:
        """Start systemd-nspawn -b and wait until the container's systemd has booted.

        With ``network`` the container shares the host's network (to rehearse
        what needs Debian's mirror or PyPI); with ``net`` (the host PID of a
        process in another network namespace, such as a cluster.Network) it
        joins that namespace; otherwise it has only its own lo.
        """
        if self.pid:
            raise RuntimeError("machine already booted")
        if not shutil.which("systemd-nspawn", path=CLEAN_ENV["PATH"]):
            sh(["apt-get", "install", "-y", "-q", "--no-install-recommends", "systemd-container"],
               env={**CLEAN_ENV}, timeout=600)
        t0 = time.monotonic()
        groups = self._cgroups()
        for group in groups:
            group.mkdir(exist_ok=True)
        # nspawn must start inside its own cgroup (it delegates it to the container).
        enter = "".join(f"echo $$ > {group}/cgroup.procs\n" for group in groups)
        script = enter + 'exec systemd-nspawn "$@"\n'
        self._nspawn = subprocess.Popen(
            ["/bin/sh", "-c", script, "nspawn", "--quiet", "--boot", "--register=no", "--keep-unit",
             "--console=pipe", *_nspawn_network(network, net), f"--machine={self.name}",
             f"--directory={self.root}"],
            env={**CLEAN_ENV, "SYSTEMD_NSPAWN_UNIFIED_HIERARCHY": "1"}, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not self.pid:
            if self._nspawn.poll() is not None or time.monotonic() > deadline:
                out = self._nspawn.stdout.read().decode(errors="replace") if self._nspawn.poll() is not None else ""
                self.shutdown()
                raise AssertionError(f"systemd-nspawn did not boot {self.root}:\n{out[-3000:]}")
            with contextlib.suppress(OSError):
                for child in Path(f"/proc/{self._nspawn.pid}/task/{self._nspawn.pid}/children").read_text().split():
                    if os.readlink(f"/proc/{child}/exe").endswith("/systemd"):
                        self.pid = int(child)
            time.sleep(0.05)
        while not Path(f"/proc/{self.pid}/root/run/systemd/private").exists():
            if time.monotonic() > deadline:
                raise AssertionError("the container's systemd did not come up")
            time.sleep(0.05)
        state = self.run("systemctl is-system-running --wait", check=False, timeout=timeout).stdout.strip()
        if state not in ("running", "degraded"):
            raise AssertionError(f"the container's systemd is {state!r}:\n"
                                 + self.run("systemctl --failed --no-pager", check=False).stdout)
        self._time("boot (systemd)", t0)

    def _nsenter(self, *namespaces: str) -> list[str]:
        # Every namespace of the container, its root and working directory.
        if "--net" in namespaces and len(namespaces) == 1:
            return ["nsenter", "-t", str(self._need_pid()), "--net"]
        return ["nsenter", "-t", str(self._need_pid()), "-a"]

    def run(self, cmd: str, input=None, check=True, env=None, timeout=300) -> subprocess.CompletedProcess:
        """Run shell command CMD as root in the container, outside any of its units."""
        full = self._nsenter("-a") + ["/bin/sh", "-c", cmd]
        res = sh(full, input=input, check=False, env={**CLEAN_ENV, **(env or {})}, timeout=timeout)
        res.args = cmd
        if check and res.returncode != 0:
            raise AssertionError(_failure(cmd, f"exit code {res.returncode}", res.stdout, res.stderr))
        return res

    def proc(self) -> Path:
        return Path(f"/proc/{self._need_pid()}/root/proc")

    def oneshot(self, cmd: str, check=True, timeout=600) -> subprocess.CompletedProcess:
        """Run CMD in a transient oneshot service (systemd-run --wait), as cron,
        Ansible or unattended-upgrades run things: whatever it starts outside
        a unit of its own is killed when it ends."""
        wrapped = ("systemd-run --quiet --wait --pipe --collect -p Type=oneshot"
                   " -E DEBIAN_FRONTEND=noninteractive -E LANG=C.UTF-8 -- /bin/sh -c " + shlex.quote(cmd))
        return self.run(wrapped, check=check, timeout=timeout)

    def processes(self) -> list[tuple[int, str]]:
        """(pid, command line) of every process in the container, pids as seen inside."""
        found = []
        for p in self.proc().iterdir():
            if p.name.isdigit():
                with contextlib.suppress(OSError):
                    cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                    found.append((int(p.name), cmd.strip()))
        return sorted(found)

    def poweroff(self, timeout=60) -> None:
        """Shut the container's systemd down cleanly (as `systemctl poweroff`), then tidy the host."""
        self._stop_servers()
        if self._nspawn is None:
            return
        if self.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGRTMIN + 4)
        try:
            self._nspawn.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._nspawn.terminate()
            try:
                self._nspawn.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._nspawn.kill()
                self._nspawn.wait()
        if self.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)       # PID 1 gone: the kernel ends the namespace
        self._nspawn.stdout.close()
        self._nspawn = None
        self.pid = None
        for group in self._cgroups():
            for leftover in sorted(group.rglob("*"), reverse=True) if group.exists() else []:
                if leftover.is_dir():
                    with contextlib.suppress(OSError):
                        leftover.rmdir()
            with contextlib.suppress(OSError):
                group.rmdir()
        shutil.rmtree(f"/run/systemd/nspawn/propagate/{self.name}", ignore_errors=True)

    def kill(self) -> None:
        """Kill the container's systemd, and so every process in it, as a host that loses power;
        the root stays, and boot() starts it again (its enabled services with it)."""
        if self.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        self.poweroff(timeout=20)

    def reboot(self, timeout=90) -> None:
        """Power the container off and boot it again, as `reboot` does to a server."""
        t0 = time.monotonic()
        self.poweroff()
        self.boot(timeout)
        self._time("reboot", t0)

    def shutdown(self) -> None:
        """Power off (quickly, if it must) and delete the root."""
        self.poweroff(timeout=20)
        if self.root.exists():
            leftover = _mounts_under(self.root)
            if leftover:
                raise AssertionError(f"mounts left under {self.root}, not deleting: {leftover}")
            shutil.rmtree(self.root)


def _nspawn_network(host, net):
    """systemd-nspawn's network options: the host's (HOST), the namespace of process NET, or its own."""
    if host:
        return []
    return [f"--network-namespace-path=/proc/{net}/ns/net"] if net else ["--private-network"]


def _ppid(pid: str) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def deb_package_name(deb) -> str:
    """The Package field of a .deb file."""
    return sh(["dpkg-deb", "-f", str(deb), "Package"]).stdout.strip()


def host_pids_in(pid: int) -> list[int]:
    """Host PIDs of every process in the pid namespace of host process PID."""
    try:
        ns = os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return []
    found = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            with contextlib.suppress(OSError):
                if os.readlink(p / "ns/pid") == ns:
                    found.append(int(p.name))
    return found


if __name__ == "__main__":  # quick manual check: python3 machine.py [package...]
    with Machine.create(download=sys.argv[1:] or ["nginx-light"]) as mach:
        print(mach.timings)
        print(mach.run("cat /etc/debian_version; ip -o link 2>/dev/null || true").stdout)
