"""What the frontend and the admin app share: config, sessions, redirects."""

import logging
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from flask import Flask, has_request_context, request
from flask.globals import request_ctx
from werkzeug.utils import redirect

from . import converters, db, layout, settings, unavailable, uploads
from .sessions import PrefixSessionInterface

PACKAGE_DIR = Path(__file__).parent


def default_config():
    """Return the config every app starts from, taken from the built-in settings."""
    defaults = settings.Settings()
    return {
        "DATABASE": str(defaults.database),
        "UPLOADS_DIR": str(defaults.uploads),
        "TRUSTED_PROXIES": defaults.trusted_proxies,
        "TRUSTED_HEADERS": defaults.trusted_headers,
        "PASSWORD_FILE": str(layout.PASSWORD_FILE),
        "SECRET_KEY_FILE": str(layout.SECRET_KEY_FILE),
        "MAX_CONTENT_LENGTH": layout.MAX_UPLOAD_BYTES,
        "LOGIN_ATTEMPTS": defaults.login_attempts,
        "LOGIN_ATTEMPTS_TOTAL": defaults.login_attempts_total,
        "TEST_ENDPOINTS": defaults.test_endpoints,
    }


def read_secret_key(path):
    """Return the secret key stored in ``path``; raise RuntimeError if unusable."""
    try:
        key = Path(path).read_text(encoding="utf-8").strip()
    except OSError as error:
        raise RuntimeError(f"cannot read the secret key from {path}: {error.strerror}") from None
    if not key:
        raise RuntimeError(f"the secret key file {path} is empty")
    return key


# How many URLs an app keeps (App.url_for); each takes a few hundred bytes.
URLS_KEPT = 1000
# The values a kept URL may be built from: equal ones give the same URL.
PLAIN_VALUES = (int, str)


class App(Flask):
    """Flask, keeping the URLs url_for builds.

    Building a URL through Flask and Werkzeug costs a few µs, and a page
    builds one or more per post (the directory up to 200). Within a request,
    a URL without options (_external, _anchor, ...) depends only on the
    endpoint, the values and the script root: the rules are fixed once the
    app serves, and neither app has url_defaults or blueprints. So each is
    built once per worker and script root; nothing in it comes from the
    database. Other calls are built every time.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.urls = {}

    def url_for(self, endpoint, /, *, _anchor=None, _method=None, _scheme=None, _external=None, **values):
        if (_anchor is not None or _method is not None or _scheme is not None or _external is not None
                or not has_request_context()
                or any(type(value) not in PLAIN_VALUES for value in values.values())):
            return super().url_for(endpoint, _anchor=_anchor, _method=_method, _scheme=_scheme,
                                   _external=_external, **values)
        key = (request_ctx.url_adapter.script_name, endpoint, *values.items())
        url = self.urls.get(key)
        if url is None:
            url = super().url_for(endpoint, **values)
            if len(self.urls) >= URLS_KEPT:
                self.urls.clear()
            self.urls[key] = url
        return url


def make_flask(import_name, test_config=None, *, cookie_name):
    """Build a Flask app with the shared templates, static files and config."""
    # import_name names the app's logger; root_path is set explicitly so both
    # apps find the one templates/ and static/ folder of the package.
    app = App(
        import_name,
        root_path=str(PACKAGE_DIR),
        template_folder="templates",
        static_folder="static",
        static_url_path="/static",
    )
    app.config.from_mapping(default_config())
    if test_config:
        app.config.update(test_config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = read_secret_key(app.config["SECRET_KEY_FILE"])

    app.logger.setLevel(logging.INFO)
    app.session_interface = PrefixSessionInterface(cookie_name)
    converters.init_app(app)
    db.init_app(app)
    uploads.init_app(app)
    unavailable.init_app(app)
    app.after_request(relative_location)
    app.after_request(security_headers)
    return app


def relative_location(response):
    """Make a Location that points at this host relative.

    Werkzeug's routing redirects (strict slashes) build absolute URLs from the
    Host header; dropping scheme and host means a forged Host never comes back.
    """
    location = response.headers.get("Location")
    if not location:
        return response
    parts = urlsplit(location)
    if not (parts.scheme and parts.netloc):
        return response
    if f"{parts.scheme}://{parts.netloc}/".lower() != request.host_url.lower():
        return response
    # "//x" or "/\x" would be read as another host, so keep a single slash.
    path = "/" + parts.path.lstrip("/\\")
    relative = urlunsplit(("", "", path, parts.query, parts.fragment))
    response.headers["Location"] = relative
    if 300 <= response.status_code < 400:
        # The generated body links to the absolute URL too.
        response.set_data(redirect(relative, response.status_code).get_data())
    return response


# The pages use this origin's stylesheet and images and post forms to it; no
# script, no inline style, no plugin. Nothing else is allowed, so injected
# markup cannot run or load anything, and no other site may frame a page (to
# trick the admin into clicking its buttons).
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "img-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))

# Sent with every answer, error pages, redirects, JSON and the health probe
# included: browsers must not guess content types (e.g. of uploaded files),
# and frame-ancestors has X-Frame-Options beside it for older browsers.
SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
)


def security_headers(response):
    """Add SECURITY_HEADERS where the response has not set them."""
    # One pass over the headers: Headers.setdefault raises and catches an
    # exception for every header that is missing, which all of these usually are.
    present = {name.lower() for name, _ in response.headers}
    for name, value in SECURITY_HEADERS:
        if name.lower() not in present:
            response.headers.add(name, value)
    return response
