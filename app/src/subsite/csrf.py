"""A per-session token that every admin POST must carry."""

import hmac
import secrets

from flask import abort, request, session

FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def csrf_token():
    """Return the session's token, creating it on first use."""
    token = session.get(FIELD)
    if not token:
        token = session[FIELD] = secrets.token_urlsafe(32)
    return token


def check():
    """Refuse a state-changing request without the session's token."""
    if request.method in SAFE_METHODS:
        return
    sent = request.form.get(FIELD) or request.headers.get(HEADER) or ""
    expected = session.get(FIELD) or ""
    # Compare bytes: compare_digest refuses non-ASCII str.
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        abort(
            400,
            description="The form is out of date or did not come from this site "
            "(missing or wrong CSRF token). Reload the page and try again.",
        )


def init_app(app):
    """Check every request and give templates csrf_token()."""
    app.before_request(check)
    app.jinja_env.globals["csrf_token"] = csrf_token
