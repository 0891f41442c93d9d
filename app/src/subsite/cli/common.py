"""What the subcommands share: exit codes, refusals, and careful file writes."""

import grp
import os
import pwd
import secrets
import sys
from pathlib import Path

from .. import files, layout, settings

OK, FIX, FAILED, INTERRUPTED = 0, 1, 3, 130


class Refused(Exception):
    """Something the admin must fix; the message says what and how. ``code``: the command's exit code."""

    code = FIX


def warn(message):
    """Tell the admin about something that did not stop the command."""
    print(f"subsite: warning: {message}", file=sys.stderr)


SETTINGS_TEMPLATE = """\
# subsite settings. After a change run: service uwsgi restart
# (or use `subsite prefix /new`, which also checks and rolls back). See subsite(8).
[{section}]
# The URL prefix the app answers under: /subsite, /apps/board, or empty for the
# site root. This is the one place it is set: uWSGI's mount, nginx's locations,
# links, redirects and cookie paths all follow it.
prefix = {prefix}

# How many proxies in front of nginx (a TLS terminator, a load balancer) may set
# X-Forwarded-* headers. 0: nginx faces the clients and every forwarded header
# is ignored.
trusted-proxies = {trusted_proxies}

# Which X-Forwarded-* headers those proxies are trusted with: some of for
# (the client's address), proto (http or https), host, port and prefix (the
# URL prefix in front of this one), separated by commas; or none. Name host,
# port or prefix only if every trusted proxy sets that header itself: one a
# proxy passes on from the client lets the client choose the host or prefix
# of every link and cookie. The admin's diagnostics page shows what applies.
trusted-headers = {trusted_headers}

# The uWSGI socket nginx passes requests to (a path, or host:port); uWSGI
# listens there besides its default socket. Apply with a restart. The default
# unix socket only lets www-data in. uWSGI's protocol has no authentication:
# whoever reaches a host:port can send requests as if from any client, scheme
# or prefix. So a host:port must be on loopback (127.0.0.1:3031, [::1]:3031),
# and even there every local user can reach it: keep the unix socket on a
# machine shared with other users.
socket = {socket}

# yes: allow a socket on another address than loopback (only behind a firewall
# that lets nothing but this machine's nginx reach it).
allow-remote-socket = {allow_remote_socket}

# Where posts and uploaded images are kept. uploads must be a directory of its
# own, below /var/lib/subsite/, /var/www/ or /srv/ (or another top-level
# directory), never a system directory; one the package did not make must
# already be writable by www-data. database is an SQLite file, or for several
# hosts sharing one database a PostgreSQL URL, such as
#   postgresql://subsite@db.example/subsite?passfile=/etc/subsite/pgpass
# with the password in that passfile (www-data 0600, never in this file); run
# 'subsite migrate' once after an upgrade, and see 'subsite migrate-to'.
database = {database}
uploads = {uploads}

# Failed admin logins allowed per client, e.g. "5 per 300 s" (the client is
# then refused with 429 until the oldest failure is that old), or off. A client
# is an IPv4 address or an IPv6 /64 (one host often has a whole /64).
login-attempts = {login_attempts}

# Failed admin logins allowed from all clients together, which caps the CPU
# that password checks can cost (each one takes a scrypt hash), or off. Once
# it is reached only logins from the server itself (loopback, e.g. through an
# SSH tunnel) are taken until the oldest failure is that old; 'subsite password'
# forgets every failed login.
login-attempts-total = {login_attempts_total}

# yes: nginx keeps the public pages (front page, posts, titles, JSON API) in
# its cache (/var/cache/subsite-nginx, at most 128 MiB) and serves them without
# asking the app until the board changes; every write is seen at once. no:
# every request goes to the app. Apply with a restart.
page-cache = {page_cache}

# yes: serve test-only pages (<prefix>/_test/sleep, a request that hangs) used by
# the package's soak tests. Keep it no on a real server.
test-endpoints = {test_endpoints}
"""


def render_settings(values):
    """Return a fresh settings file holding ``values`` (a Settings)."""
    fields = {key: settings.render_value(value) for key, value in vars(values).items()}
    return SETTINGS_TEMPLATE.format(section=settings.SECTION, **fields)


def write_file(path, text, mode=0o644, group="root"):
    """Write ``text`` to ``path`` atomically, owned by root:``group`` with ``mode``."""
    files.write_atomically(path, text, mode, gid=grp.getgrnam(group).gr_gid)


def link_to(target):
    """What an enable link (sites-enabled/X, apps-enabled/X) holds to point at ``target``: ../<its directory>/<its name>."""
    target = Path(target)
    return Path("..") / target.parent.name / target.name


def ensure_dir(path, owner="root", group=None, mode=0o755):
    """Create the directory ``path`` if needed; give it ``owner``:``group`` (default: owner's group) and ``mode``.

    Works on the opened directory (O_NOFOLLOW), so a link put in its place is
    refused rather than followed: root never changes what a link points to.
    """
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        pass                    # a file or a dangling link: refused below
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        raise Refused(f"{path} should be a directory but is a link or a file; "
                      "move it out of the way, then run: dpkg-reconfigure subsite") from None
    try:
        entry = pwd.getpwnam(owner)
        os.fchown(fd, entry.pw_uid, entry.pw_gid if group is None else grp.getgrnam(group).gr_gid)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def ensure_secret_key(path=None):
    """Create the app's secret key once; keep it 0640 root:www-data."""
    path = Path(path or layout.SECRET_KEY_FILE)
    if not path.exists():
        write_file(path, secrets.token_hex(32) + "\n", mode=0o640, group=layout.WEB_USER)
    else:
        os.chown(path, 0, grp.getgrnam(layout.WEB_USER).gr_gid)
        os.chmod(path, 0o640)
