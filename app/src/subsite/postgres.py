"""PostgreSQL through psycopg 3: the URL in the settings, and a connection that speaks like sqlite3's.

The app's SQL is written once, with sqlite3's ``?`` placeholders. Connection
translates them, returns rows readable by index and by column name (as
sqlite3.Row), and ends transactions as ``with`` a sqlite3 connection does:
it runs in autocommit mode, so a read is one statement and ``with conn:``
is BEGIN ... COMMIT (ROLLBACK on an exception).

psycopg (the pure-Python wheel, which loads Debian's libpq5 through ctypes) is
imported on the first use only: a host on SQLite never loads it.

Failures are bounded, so that a request while PostgreSQL restarts or cannot
be reached fails in seconds instead of hanging (Unavailable: a 503 page,
unavailable.py): connecting gives up after CONNECT_TIMEOUT, a statement after
STATEMENT_TIMEOUT (unless the URL sets its own). A connection lost between
two requests is opened again by the next statement outside a transaction.
"""

import functools
from urllib.parse import urlsplit

SCHEMES = ("postgresql", "postgres")
EXAMPLE = "postgresql://subsite@db.example/subsite?passfile=/etc/subsite/pgpass"
# Seconds to wait for a connection; milliseconds a statement may run.
CONNECT_TIMEOUT = 3
STATEMENT_TIMEOUT = 5000


class PostgresError(Exception):
    """PostgreSQL could not be reached, or refused a statement; str() says which database and why."""


class Unavailable(PostgresError):
    """PostgreSQL cannot serve for now: down, restarting, unreachable, too slow, or the connection was lost."""


def is_url(database):
    """Tell whether the ``database`` setting names PostgreSQL (a postgresql:// URL) rather than an SQLite file."""
    return str(database).partition("://")[0].lower() in SCHEMES


def check_url(url):
    """Return ``url`` if libpq can use it and it holds no password; else raise ValueError saying what to write."""
    try:
        params = _psycopg().conninfo.conninfo_to_dict(url)
    except _psycopg().ProgrammingError as error:
        raise ValueError(f"libpq cannot read it ({_first_line(error)}); write it as {EXAMPLE}") from None
    if "password" in params:
        raise ValueError("a password in the settings file is readable by every user of this machine; "
                         "put it in a passfile only the app's user may read (see subsite(8)) and name it: "
                         f"{EXAMPLE}")
    return url


def describe(url):
    """Return ``url`` without its query and any password: what messages and logs may show."""
    try:
        parts = urlsplit(url)
    except ValueError:                  # brackets that hold no IPv6 address
        return f"{url.partition('://')[0]}://(a URL that cannot be read)"
    user, at, hosts = parts.netloc.rpartition("@")
    return f"{parts.scheme}://{user.partition(':')[0]}{at}{hosts}{parts.path}"


def where(database):
    """Return how messages name ``database``: its path, or its URL without query or password."""
    return describe(database) if is_url(database) else str(database)


def passfile(url):
    """Return the passfile ``url`` names, or None."""
    return _psycopg().conninfo.conninfo_to_dict(url).get("passfile")


def connect(url):
    """Open a Connection to the database at ``url``; raise PostgresError if it cannot be reached."""
    return Connection(url)


class Connection:
    """A psycopg connection with sqlite3's manners (see the module's docstring)."""

    def __init__(self, url):
        self.url = url
        self._raw = self._open()

    def _open(self):
        psycopg = _psycopg()
        try:
            return psycopg.connect(autocommit=True, row_factory=_row_maker, **_conninfo(self.url))
        except psycopg.Error as error:
            raise self._error(error) from None

    def _error(self, error):
        # psycopg's OperationalError: no connection, a lost one, a timeout, a server shutting down or starting.
        kind = Unavailable if isinstance(error, _psycopg().OperationalError) else PostgresError
        return kind(f"{describe(self.url)}: {_first_line(error)}")

    def execute(self, sql, params=()):
        """Run ``sql`` (with ``?`` placeholders) and return its cursor; once more on a new connection if it was lost.

        Outside a transaction the app only reads or begins one, so a statement
        that failed because the connection was lost did nothing, and sending it
        again is safe.
        """
        psycopg = _psycopg()
        idle = not self.in_transaction
        try:
            return self._raw.execute(_translated(sql), params)
        except psycopg.OperationalError as error:
            if not (idle and self._raw.closed):
                raise self._error(error) from None
        except psycopg.Error as error:
            raise self._error(error) from None
        self._raw = self._open()
        try:
            return self._raw.execute(_translated(sql), params)
        except psycopg.Error as error:
            raise self._error(error) from None

    def executemany(self, sql, seq):
        """Run ``sql`` once for each parameter tuple in ``seq``."""
        try:
            self._raw.cursor().executemany(_translated(sql), seq)
        except _psycopg().Error as error:
            raise self._error(error) from None

    @property
    def in_transaction(self):
        """True between a BEGIN and its COMMIT or ROLLBACK (as sqlite3's)."""
        status = self._raw.info.transaction_status
        return status.name in ("INTRANS", "INERROR", "ACTIVE")

    @property
    def closed(self):
        return self._raw.closed

    def commit(self):
        if self.in_transaction:
            self.execute("COMMIT")

    def rollback(self):
        """End the transaction, keeping nothing; a lost connection has nothing left to roll back."""
        if self.in_transaction and not self._raw.closed:
            try:
                self._raw.execute("ROLLBACK")
            except _psycopg().Error:
                pass

    def close(self):
        self._raw.close()

    def __enter__(self):
        if not self.in_transaction:
            self.execute("BEGIN")
        return self

    def __exit__(self, kind, value, traceback):
        if kind is None:
            self.commit()
        else:
            self.rollback()
        return False


@functools.cache
def _psycopg():
    import psycopg
    return psycopg


def _conninfo(url):
    """Return libpq's parameters for ``url``, with this module's timeouts where the URL sets none."""
    params = _psycopg().conninfo.conninfo_to_dict(url)
    params.setdefault("connect_timeout", CONNECT_TIMEOUT)
    # First, so that a -c statement_timeout in the URL's options wins.
    params["options"] = f"-c statement_timeout={STATEMENT_TIMEOUT} {params.get('options', '')}".strip()
    params.setdefault("application_name", "subsite")
    return params


def _first_line(error):
    return " ".join(str(error).split("\n", 1)[0].split()) or type(error).__name__


@functools.lru_cache(maxsize=256)
def _translated(sql):
    """Return ``sql`` with sqlite3's ``?`` placeholders as psycopg's ``%s`` (and a literal % doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


@functools.lru_cache(maxsize=64)
def _row_class(names):
    """Return the row type for the columns ``names``: a tuple that is also read by column name."""
    index = {name: number for number, name in enumerate(names)}

    class Row(tuple):
        __slots__ = ()

        def __getitem__(self, key):
            return tuple.__getitem__(self, index[key] if isinstance(key, str) else key)

        def keys(self):
            return list(names)

    return Row


def _row_maker(cursor):
    """psycopg's row factory: rows of _row_class for the cursor's columns."""
    if cursor.description is None:
        return tuple
    return _row_class(tuple(column.name for column in cursor.description))

