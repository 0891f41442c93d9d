"""Failed admin logins, counted per client and for all clients together, in the app's database.

uWSGI runs several worker processes (and several hosts may share one
PostgreSQL), so the count lives in the database they share, not in memory. Each login attempt is recorded before the password is
checked, inside one write transaction, so concurrent attempts cannot slip past
the limit; a successful login forgets its client's attempts.

A client is an IPv4 address or an IPv6 /64: a single IPv6 host is usually
given a whole /64, and counting its addresses one by one would give it
unlimited tries, each costing a scrypt hash. The total (LOGIN_ATTEMPTS_TOTAL)
caps the hashes that clients spread over many networks can cost; logins from
the machine itself (loopback) are not refused by it, so the admin can still
log in there (or through an SSH tunnel), and `subsite password` forgets every
recorded attempt.
"""

import ipaddress
import math
import time
from typing import NamedTuple

from flask import current_app

from . import db, sql

PER_CLIENT, TOTAL = "client", "total"


class Refusal(NamedTuple):
    """A login attempt refused: for how many ``seconds``, and by which limit (PER_CLIENT or TOTAL)."""

    seconds: int
    limit: str


def client_of(address):
    """Return (key, local) for ``address``: what its attempts are counted under, and whether it is loopback.

    The key is the IPv4 address (an IPv4-mapped IPv6 one included), or the
    IPv6 /64; anything else (a Unix socket's peer) is counted as it is.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address, False
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip.version == 6 and not ip.is_loopback:
        # From the integer: a scope (fe80::1%eth0) would not parse back as a network.
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64))), False
    return str(ip), ip.is_loopback


def attempt(address, now=None):
    """Record a login attempt from ``address``; return None if allowed, else a Refusal.

    A refused attempt is not recorded, so waiting out the window always works.
    """
    per_client, total = current_app.config["LOGIN_ATTEMPTS"], current_app.config["LOGIN_ATTEMPTS_TOTAL"]
    if not (per_client.count or total.count):
        return None
    key, local = client_of(address)
    now = time.time() if now is None else now
    conn = db.get_db()
    # The lock is taken first (SQLite's write lock; on PostgreSQL, one that
    # keeps other writers of the table out): count and insert are one step.
    with sql.locked(conn, "LOCK TABLE login_attempts IN SHARE ROW EXCLUSIVE MODE"):
        conn.execute("DELETE FROM login_attempts WHERE at <= ?", (now - max(per_client.seconds, total.seconds),))
        refusal = _refusal(conn, per_client, now, PER_CLIENT, key)
        if refusal is None and not local:
            refusal = _refusal(conn, total, now, TOTAL)
        if refusal is None:
            conn.execute("INSERT INTO login_attempts (address, at) VALUES (?, ?)", (key, now))
    return refusal


def _refusal(conn, rate, now, limit, key=None):
    """Return a Refusal if ``rate`` allows no further attempt (from ``key``, or from anyone), else None."""
    if not rate.count:
        return None
    # The rate.count-th newest attempt in the window: once it is older, one more is allowed.
    where, params = ("address = ? AND ", (key,)) if key is not None else ("", ())
    row = conn.execute(f"SELECT at FROM login_attempts WHERE {where}at > ? ORDER BY at DESC LIMIT 1 OFFSET ?",
                       (*params, now - rate.seconds, rate.count - 1)).fetchone()
    if row is None:
        return None
    return Refusal(max(1, math.ceil(row["at"] + rate.seconds - now)), limit)


def succeeded(address):
    """Forget the attempts of ``address``'s client after a successful login."""
    conn = db.get_db()
    with conn:
        conn.execute("DELETE FROM login_attempts WHERE address = ?", (client_of(address)[0],))


def forget_all(conn):
    """Forget every recorded attempt (``subsite password`` does, on the database ``conn``)."""
    with conn:
        conn.execute("DELETE FROM login_attempts")
