"""The monitoring probe at <prefix>/_health, answered in front of Flask.

Load balancers and monitors poll it often, so it does only what it reports:
it runs one query on the database and names the version and the script root
the request arrived under. A page needs Flask's request context, session and
routing; the probe does not, and skipping them makes it about as cheap as a
request through nginx and uWSGI can be (BENCHMARKS.md). The database is
queried on every request; only the healthy reply's bytes are made once per
script root.
"""

import functools
import json

from werkzeug.exceptions import MethodNotAllowed

from . import __version__, base, db

METHODS = ("GET", "HEAD")


def answer(environ, start_response, app):
    """Answer a request for layout.HEALTH_PATH from ``app``'s database: 200 when it answers a query, else 503."""
    method = environ["REQUEST_METHOD"]
    if method not in METHODS:
        refusal = MethodNotAllowed(valid_methods=METHODS).get_response(environ)
        refusal.headers.extend(base.SECURITY_HEADERS)
        return refusal(environ, start_response)
    script_name = environ.get("SCRIPT_NAME", "")
    status = "200 OK"
    try:
        db.check(app.config["DATABASE"])
        headers, data = _healthy_reply(script_name)
    except db.ERRORS as error:
        app.logger.error("health check: database error: %s", error)
        status = "503 SERVICE UNAVAILABLE"
        headers, data = _reply(script_name, str(error))
    start_response(status, list(headers))
    return [] if method == "HEAD" else [data]


@functools.lru_cache(maxsize=16)
def _healthy_reply(script_name):
    """The 200 reply, the same for every request under one script root: made once."""
    return _reply(script_name, None)


def _reply(script_name, error):
    """Return (headers, body) reporting ``error`` (None: healthy) under ``script_name``.

    The body is Flask's JSON form (compact, sorted keys, a newline), written
    here because a Flask response costs more than the rest of the probe.
    """
    body = {
        "status": "ok" if error is None else "error",
        "version": __version__,
        # Werkzeug's request.script_root: WSGI carries the path's UTF-8 bytes as latin-1.
        "script_root": script_name.encode("latin-1").decode(errors="replace").rstrip("/"),
        "database": "ok" if error is None else error,
    }
    data = (json.dumps(body, sort_keys=True, separators=(",", ":")) + "\n").encode()
    headers = (("Content-Type", "application/json"), ("Content-Length", str(len(data))),
               ("Cache-Control", "no-store"), *base.SECURITY_HEADERS)
    return headers, data
