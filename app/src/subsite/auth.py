"""The admin password, logging in and out, and where to go afterwards."""

import contextlib
import functools
import hashlib
import hmac
import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlsplit

from flask import current_app, g, redirect, render_template, request, session, url_for
from werkzeug.security import check_password_hash, generate_password_hash

from . import db, generation, ratelimit

NO_PASSWORD = "No admin password is set. On the server run: sudo subsite password"


def set_password(path, password, *, group=None):
    """Store the scrypt hash of ``password`` in ``path``, atomically, mode 0640.

    ``group`` (a name or gid) owns the new file; without it the group of the
    file being replaced is kept, so the web server can still read it.
    """
    if not password:
        raise ValueError("the password must not be empty")
    path = Path(path)
    hashed = generate_password_hash(password, method="scrypt")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as file:
            os.fchmod(file.fileno(), 0o640)
            if group is not None:
                shutil.chown(tmp, group=group)
            elif path.exists():
                # Only root may give the file away; others keep their group.
                with contextlib.suppress(PermissionError):
                    os.fchown(file.fileno(), -1, path.stat().st_gid)
            file.write(hashed + "\n")
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_hash():
    """Return the stored password hash, or None when no password is set."""
    try:
        hashed = Path(current_app.config["PASSWORD_FILE"]).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return hashed or None


def _stamp(hashed):
    # The session remembers which hash it logged in against, so setting a
    # new password logs every existing session out.
    return hashlib.sha256(hashed.encode()).hexdigest()[:32]


def logged_in():
    """Tell whether this request's session is logged in to the admin."""
    # Asked by login_required and again by the templates: look once per request.
    if "logged_in" not in g:
        g.logged_in = _session_is_current()
    return g.logged_in


def _session_is_current():
    stamp, hashed = session.get("admin"), read_hash()
    if not (stamp and hashed and hmac.compare_digest(str(stamp), _stamp(hashed))):
        return False
    # Only sessions that claim a login cost a query; logging out ends them all.
    joined, current = session.get("generation"), generation.current(db.get_db())
    return isinstance(joined, str) and current is not None and hmac.compare_digest(joined.encode(), current.encode())


def login_required(view):
    """Send a visitor who is not logged in to the login page, and back after."""

    @functools.wraps(view)
    def wrapped(**kwargs):
        if logged_in():
            return view(**kwargs)
        # Come back to the same page, prefix included; after a form post the
        # page itself cannot be fetched with GET, so go to the index instead.
        if request.method in ("GET", "HEAD"):
            target = request.script_root + request.full_path.removesuffix("?")
        else:
            target = url_for(".index")
        return redirect(url_for(".login", next=target), 303)

    return wrapped


def safe_next(value):
    """Return ``value`` if it is a path inside the admin app, else the admin index."""
    fallback = url_for(".index")
    if not isinstance(value, str) or not value.startswith("/") or value.startswith("//"):
        return fallback
    # Browsers drop tabs and newlines and read "\" as "/", which could turn
    # "/\t/evil.test" or "/\evil.test" into a link to another host.
    if any(ord(char) < 32 or ord(char) == 127 or char == "\\" for char in value):
        return fallback
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return fallback
    root = request.script_root
    if parts.path != root and not parts.path.startswith(root + "/"):
        return fallback
    # "/admin/../x" leaves the admin once the browser resolves it.
    if any(segment in (".", "..") for segment in unquote(parts.path).split("/")):
        return fallback
    return value


def login():
    """Show the login form; check the password and log in."""
    hashed = read_hash()
    error = None
    if request.method == "POST" and hashed is not None:
        address = request.remote_addr or ""
        refusal = ratelimit.attempt(address)
        if refusal:
            return _refused(hashed, address, refusal)
        if check_password_hash(hashed, request.form.get("password", "")):
            ratelimit.succeeded(address)
            session.clear()
            session["admin"] = _stamp(hashed)
            session["generation"] = generation.start(db.get_db())
            g.pop("logged_in", None)
            current_app.logger.info("admin login from %s", address)
            return redirect(safe_next(request.form.get("next")), 303)
        current_app.logger.warning("failed admin login from %s", address)
        error = "Wrong password."
    return _login_page(hashed, error)


def _refused(hashed, address, refusal):
    """Answer a login attempt over a limit: 429, and when to try again."""
    if refusal.limit == ratelimit.TOTAL:
        current_app.logger.warning(
            "admin login from %s refused: the failed logins from all clients reached login-attempts-total; "
            "logins from the server itself are still taken, and 'subsite password' forgets the failures", address)
        error = (f"Too many failed logins to this site. Try again in {refusal.seconds} seconds, "
                 "or log in from the server itself.")
    else:
        current_app.logger.warning("admin login from %s refused: too many failed attempts (login-attempts)", address)
        error = f"Too many failed logins from your address. Try again in {refusal.seconds} seconds."
    return _login_page(hashed, error), 429, {"Retry-After": str(refusal.seconds)}


def _login_page(hashed, error):
    return render_template(
        "admin/login.html",
        next=request.values.get("next", ""),
        error=error,
        no_password=NO_PASSWORD if hashed is None else None,
    )


def logout():
    """End every admin session, this one and any copy of its cookie, and return to the login page."""
    # Only a logged-in session may: anyone can get a CSRF token from the login page.
    if logged_in():
        generation.end_all(db.get_db())
        current_app.logger.info("admin logout from %s: every session ended", request.remote_addr)
    session.clear()
    g.pop("logged_in", None)
    return redirect(url_for(".login"), 303)


def init_app(app):
    """Register /login and /logout."""
    app.add_url_rule("/login", "login", login, methods=("GET", "POST"))
    app.add_url_rule("/logout", "logout", logout, methods=("POST",))
