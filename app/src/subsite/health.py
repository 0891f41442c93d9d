"""The monitoring probe at <prefix>/_health, answered in front of Flask.

Load balancers and monitors poll it often, so it does only what it reports:
it runs one query on the database and names the version and the script root
the request arrived under. A page needs Flask's request context, session and
routing; the probe does not, and skipping them makes it about as cheap as a
request through nginx and uWSGI can be (BENCHMARKS.md).
"""

import json
import sqlite3

from werkzeug.exceptions import MethodNotAllowed
from werkzeug.wrappers import Request

from . import __version__, base, db

METHODS = ("GET", "HEAD")


def answer(environ, start_response, app):
    """Answer a request for layout.HEALTH_PATH from ``app``'s database: 200 when it answers a query, else 503."""
    request = Request(environ)
    if request.method not in METHODS:
        return MethodNotAllowed(valid_methods=METHODS)(environ, start_response)
    body = {
        "status": "ok",
        "version": __version__,
        "script_root": request.script_root,
        "database": "ok",
    }
    status = "200 OK"
    try:
        db.check(app.config["DATABASE"])
    except sqlite3.Error as error:
        app.logger.error("health check: database error: %s", error)
        body.update(status="error", database=str(error))
        status = "503 SERVICE UNAVAILABLE"
    # Written out rather than through Flask's JSON response: building a Werkzeug
    # Response costs about 60 µs, three times the rest of the probe. The bytes
    # are Flask's (compact, sorted keys, a newline) and so are the headers.
    data = (json.dumps(body, sort_keys=True, separators=(",", ":")) + "\n").encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(data))),
                            ("Cache-Control", "no-store"), *base.SECURITY_HEADERS])
    return [] if request.method == "HEAD" else [data]
