"""The answer while the database cannot serve: 503, a short page (JSON under /api/), and Retry-After.

PostgreSQL restarting, down or too slow (postgres.Unavailable, within
postgres.py's timeouts), or an SQLite file locked past its busy timeout,
fails a request in seconds. Without this, Flask would answer its bare 500
page with a traceback in the log; here reads and writes alike get 503 and
a page that says what happened, and the log one line with the cause.

The page is made without the templates: the admin's navigation asks the
database whether the visitor is logged in. It is never kept by nginx's page
cache, which keeps only what carries X-Accel-Expires (frontend.cacheable
sets it on 200 answers alone), nor by browsers (no-store).
"""

from flask import current_app, request, url_for
from markupsafe import escape

from . import db

# Seconds a client should wait before trying again: about one PostgreSQL restart.
RETRY_AFTER = 5
MESSAGE = "The board's database is unreachable; try again in a moment."
# Said too when the request was a write (the commit itself may be what was lost).
NOT_SAVED = ("What you sent may not have been saved: once the board is back, "
             "check it and send it again if it is missing.")
PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Unavailable · subsite</title>
  <link rel="stylesheet" href="{stylesheet}">
</head>
<body>
<main>
  <h1>Unavailable for a moment</h1>
  <p>{message}</p>
</main>
</body>
</html>
"""
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def answer(error):
    """Answer a request that failed because the database cannot serve; let any other database error through."""
    if not db.unreachable(error):
        raise error
    # The path quoted (%r): a newline in it cannot start a line of its own in the log.
    current_app.logger.error("database unreachable, answered 503 to %s %r: %s",
                             request.method, request.script_root + request.path, error)
    message = MESSAGE if request.method in SAFE_METHODS else f"{MESSAGE} {NOT_SAVED}"
    headers = {"Retry-After": str(RETRY_AFTER), "Cache-Control": "no-store"}
    if request.path.startswith("/api/"):
        return {"error": message}, 503, headers
    page = PAGE.format(stylesheet=escape(url_for("static", filename="style.css")), message=escape(message))
    return page, 503, headers


def init_app(app):
    """Answer 503 for the errors of a database that cannot serve (db.UNREACHABLE)."""
    for kind in db.UNREACHABLE:
        app.register_error_handler(kind, answer)
