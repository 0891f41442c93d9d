"""The monitoring probe at <prefix>/_health, answered in front of Flask.

Load balancers and monitors poll it often, so it does only what it reports:
it runs one query on the database and names the version and the script root
the request arrived under. A page needs Flask's request context, session and
routing; the probe does not, and skipping them makes it about as cheap as a
request through nginx and uWSGI can be (BENCHMARKS.md).
"""

import json
import sqlite3

from werkzeug.wrappers import Request

from . import __version__, db

PATH = "/_health"
METHODS = ("GET", "HEAD")


def answer(environ, start_response, database, logger):
    """Answer a request for PATH: 200 when ``database`` answers a query, else 503."""
    request = Request(environ)
    if request.method not in METHODS:
        return _respond(request, start_response, "405 METHOD NOT ALLOWED",
                        {"error": "the health check answers GET and HEAD only"},
                        [("Allow", ", ".join(METHODS))])
    body = {
        "status": "ok",
        "version": __version__,
        "script_root": request.script_root,
        "database": "ok",
    }
    status = "200 OK"
    try:
        db.check(database)
    except sqlite3.Error as error:
        logger.error("health check: database error: %s", error)
        body.update(status="error", database=str(error))
        status = "503 SERVICE UNAVAILABLE"
    return _respond(request, start_response, status, body, [("Cache-Control", "no-store")])


def _respond(request, start_response, status, body, headers):
    # The same bytes Flask would send: compact JSON, sorted keys, a newline.
    data = (json.dumps(body, sort_keys=True, separators=(",", ":")) + "\n").encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(data))),
                            ("X-Content-Type-Options", "nosniff"), *headers])
    return [] if request.method == "HEAD" else [data]
