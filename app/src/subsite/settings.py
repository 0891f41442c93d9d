"""The settings file, /etc/subsite/subsite.ini: the one place an admin edits.

Its ``[subsite]`` section holds the URL prefix and the few facts that differ
between servers (how many proxies to trust, where the uWSGI socket and the
data live). Errors name the file and line so the admin can go straight there.
"""

import configparser
import dataclasses
import ipaddress
import os
import re
from pathlib import Path

from . import layout, postgres, prefix

SECTION = "subsite"


class SettingsError(Exception):
    """A settings file that cannot be used; str() is ``file:line: reason``; ``key``: the setting refused, if one."""

    def __init__(self, path, line, reason, key=None):
        self.path, self.line, self.reason, self.key = Path(path), line, reason, key
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {reason}")


@dataclasses.dataclass(frozen=True)
class Rate:
    """At most ``count`` events per ``seconds`` (count 0: no limit)."""

    count: int
    seconds: int

    def __str__(self):
        return f"{self.count} per {self.seconds} s" if self.count else "off"


RATE = re.compile(r"(\d{1,6})\s*per\s*(\d{1,7})\s*s", re.IGNORECASE)
YES, NO = ("yes", "true", "on", "1"), ("no", "false", "off", "0")

# The X-Forwarded-<Name> headers ProxyFix can apply, by the name trusted-headers
# uses. For and Proto are Werkzeug's defaults: a proxy appends to For and sets
# Proto. Host, Port and Prefix are often passed on from the client unchanged,
# so they are trusted only when the admin names them.
FORWARDED = ("for", "proto", "host", "port", "prefix")
TRUSTED_HEADERS = ("for", "proto")


@dataclasses.dataclass(frozen=True)
class Settings:
    prefix: str = "/" + layout.NAME
    trusted_proxies: int = 0
    trusted_headers: tuple = TRUSTED_HEADERS
    socket: str = str(layout.UWSGI_SOCKET)
    # An SQLite file (a Path) or a postgresql:// URL (a str: postgres.py).
    database: Path | str = layout.DATABASE_FILE
    uploads: Path = layout.UPLOADS_DIR
    login_attempts: Rate = Rate(5, 300)
    login_attempts_total: Rate = Rate(100, 300)
    test_endpoints: bool = False
    allow_remote_socket: bool = False
    page_cache: bool = True

    @property
    def upstream(self):
        """The socket as nginx's uwsgi_pass wants it."""
        return self.socket if ":" in self.socket else f"unix:{self.socket}"


KEYS = {f.name.replace("_", "-"): f.name for f in dataclasses.fields(Settings)}


def _line_of(text, key):
    """Return the 1-based line where ``key`` is set in ``text`` (last wins), or None."""
    found = None
    for number, line in enumerate(text.splitlines(), 1):
        name, sep, _ = line.partition("=")
        if sep and name.strip().lower() == key:
            found = number
    return found


def parse(text, path="subsite.ini"):
    """Return Settings from the text of a settings file, or raise SettingsError."""
    parser = configparser.ConfigParser(
        interpolation=None, delimiters=("=",), comment_prefixes=("#", ";"), inline_comment_prefixes=None
    )
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as error:
        line, reason = getattr(error, "lineno", None), error.message.splitlines()[0]
        if line is None and getattr(error, "errors", None):
            # A ParsingError (a line without '=') lists (lineno, line) pairs instead.
            line, reason = error.errors[0][0], "expected 'key = value'"
        raise SettingsError(path, line, reason) from None
    if not parser.has_section(SECTION):
        raise SettingsError(path, None, f"there is no [{SECTION}] section")
    values = {}
    for key, raw in parser.items(SECTION):
        line = _line_of(text, key)
        if key not in KEYS:
            raise SettingsError(path, line, f"unknown setting {key!r}; known: {', '.join(KEYS)}")
        try:
            values[KEYS[key]] = _convert(key, raw)
        except ValueError as error:
            raise SettingsError(path, line, f"{key} = {_shown(key, raw)!r} is refused: {error}", key) from None
    settings = Settings(**values)
    if not settings.allow_remote_socket and not socket_on_this_machine(settings.socket):
        raise SettingsError(path, _line_of(text, "socket"), f"socket = {settings.socket!r} is refused: uWSGI's "
                            "protocol has no authentication, so anyone who reaches that address can send requests "
                            "as if from any client, prefix or scheme. Use the default unix socket, or 127.0.0.1 "
                            "(see subsite(8)); if a firewall guards it, set allow-remote-socket = yes")
    return settings


def _shown(key, raw):
    """Return ``raw`` as a message may show it: a database URL without its query and password."""
    return postgres.describe(raw) if key == "database" and postgres.is_url(raw) else raw


def _convert(key, raw):
    if key == "prefix":
        return prefix.normalize(raw)
    if key == "trusted-proxies":
        if not raw.isdigit() or int(raw) > 10:
            raise ValueError("it must be a whole number from 0 to 10")
        return int(raw)
    if key == "trusted-headers":
        return _headers(raw)
    if key in ("login-attempts", "login-attempts-total"):
        return _rate(raw)
    if key in ("test-endpoints", "allow-remote-socket", "page-cache"):
        if raw.lower() not in YES + NO:
            raise ValueError("it must be yes or no")
        return raw.lower() in YES
    if key == "database" and postgres.is_url(raw):
        return postgres.check_url(_plain(raw, f"a libpq URL such as {postgres.EXAMPLE}"))
    if key in ("database", "uploads"):
        if key == "database" and not raw.startswith("/"):
            raise ValueError("it must be the absolute path of an SQLite file (such as "
                             f"{layout.DATABASE_FILE}) or a PostgreSQL URL (such as {postgres.EXAMPLE})")
        if not raw.startswith("/"):
            raise ValueError("it must be an absolute path")
        path = Path(_plain(raw, "an absolute path"))
        if key == "uploads":
            refuse_uploads_dir(path)
        return path
    return _socket(_plain(raw, "a socket path or host:port"))


# uWSGI's tables hold at most this many characters of a unix socket's path (sun_path).
SOCKET_PATH_MAX = 107
TCP_SOCKET = re.compile(r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(?P<port>[0-9]{1,5})")


def _socket(raw):
    """Return ``raw``, an absolute unix socket path or host:port; else raise ValueError."""
    if raw.startswith("/"):
        if len(raw.encode()) > SOCKET_PATH_MAX:
            raise ValueError(f"a unix socket's path has at most {SOCKET_PATH_MAX} bytes")
        return raw
    match = TCP_SOCKET.fullmatch(raw)
    if not match or not 1 <= int(match["port"]) <= 65535:
        raise ValueError("it must be an absolute unix socket path, or host:port with a port from 1 to 65535 "
                         "(an IPv6 address in brackets: [::1]:3031)")
    return raw


def socket_on_this_machine(socket):
    """Tell whether ``socket`` is a unix socket or a TCP address on the loopback interface."""
    if socket.startswith("/"):
        return True
    host = socket.rpartition(":")[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False            # a name: where it points is not known here


# Where uploads may never go: the system's directories and the package's own
# state, whose files the app (www-data) would get to write into and nginx to
# serve. Elsewhere (/srv, /var/www, a new directory in /var/lib) is the admin's choice.
SYSTEM_DIRS = tuple(Path(p) for p in (
    "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/opt", "/proc", "/root",
    "/run", "/sbin", "/sys", "/tmp", "/usr", "/var/backups", "/var/cache", "/var/lib/apt", "/var/lib/dpkg",
    "/var/lock", "/var/log", "/var/mail", "/var/run", "/var/spool", "/var/tmp", str(layout.NGINX_DIR)))


def refuse_uploads_dir(path):
    """Raise ValueError if ``path`` is no place for uploads: in a system or state directory, or above one."""
    path = Path(os.path.normpath(path))
    for guarded in (layout.STATE_DIR, *SYSTEM_DIRS):
        if guarded.is_relative_to(path):
            raise ValueError(f"it holds {guarded}; name a directory of its own, such as {layout.UPLOADS_DIR}")
    inside = next((top for top in SYSTEM_DIRS if path.is_relative_to(top)), None)
    if inside is not None:
        raise ValueError(f"it is inside {inside}, a system or state directory; use a directory of its own "
                         f"below {layout.STATE_DIR}/, /var/www/ or /srv/")


def _plain(raw, what):
    """Return ``raw`` if nginx's config can take it unquoted; else raise ValueError saying what it must be."""
    if not raw or any(c.isspace() or c in ";{}'\"" for c in raw):
        raise ValueError(f"it must be {what} without spaces, quotes, ';' or braces")
    return raw


def _headers(raw):
    """Return the forwarded headers named in ``raw`` ("for, proto"), in FORWARDED's order."""
    names = {name.strip().lower() for name in raw.split(",")}
    if names == {"none"}:
        return ()
    if not names <= set(FORWARDED):
        raise ValueError(f"list some of {', '.join(FORWARDED)}, separated by commas, or write none")
    return tuple(name for name in FORWARDED if name in names)


def _rate(raw):
    if raw.lower() in ("off", "0"):
        return Rate(0, 1)
    match = RATE.fullmatch(raw)
    if not match or int(match[1]) < 1 or int(match[2]) < 1:
        raise ValueError("write it as 'N per S s' (e.g. 5 per 300 s), or off")
    return Rate(int(match[1]), int(match[2]))


def render_value(value):
    """Return ``value`` as the settings file writes it (booleans as yes/no)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, tuple):
        return ", ".join(value) or "none"
    return str(value)


def load(path=None):
    """Read and parse the settings file at ``path`` (default: the installed one)."""
    path = path or layout.SETTINGS_FILE
    return parse(read(path), path)


def read(path):
    """Return the text of the settings file at ``path``, or raise SettingsError."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SettingsError(path, None, "the file is missing; run 'dpkg-reconfigure subsite' to recreate it") from None
    except UnicodeDecodeError as error:
        raise SettingsError(path, None, f"the file is not UTF-8 ({error.reason})") from None


def with_prefix(text, new_prefix):
    """Return the settings text with its prefix line set to ``new_prefix``, comments kept."""
    lines = text.splitlines(keepends=True)
    number = _line_of(text, "prefix")
    if number is None:
        section = next(i for i, line in enumerate(lines) if line.strip() == f"[{SECTION}]")
        lines.insert(section + 1, f"prefix = {new_prefix}\n")
    else:
        lines[number - 1] = f"prefix = {new_prefix}\n"
    return "".join(lines)
