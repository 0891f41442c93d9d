"""The WSGI application uWSGI mounts: the frontend at the prefix, the admin below."""

from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.middleware.proxy_fix import ProxyFix

from . import health
from .admin import create_admin
from .frontend import ADMIN_ROOT_KEY, create_frontend
from .layout import ADMIN_MOUNT, HEALTH_PATH
from .links import FRONTEND_KEY, ROOT_KEY
from .settings import FORWARDED, TRUSTED_HEADERS


def make_application(frontend=None, admin=None, trusted_proxies=0, trusted_headers=TRUSTED_HEADERS):
    """Return the WSGI callable serving ``frontend`` at the root and ``admin`` at /admin.

    The monitoring probe (HEALTH_PATH) is answered before either, from the
    frontend's database.

    ``trusted_proxies`` is how many proxies in front of nginx may set
    X-Forwarded-*; 0 ignores them all. ``trusted_headers`` names the headers
    they are trusted with (settings.FORWARDED: "for", "proto", "host", "port",
    "prefix"); the others are ignored. Both are written into both apps' config
    (TRUSTED_PROXIES, TRUSTED_HEADERS) so the diagnostics page reports what is
    really applied.
    """
    frontend = frontend if frontend is not None else create_frontend()
    admin = admin if admin is not None else create_admin()
    trusted_headers = tuple(trusted_headers) if trusted_proxies > 0 else ()
    for app in (frontend, admin):
        app.config["TRUSTED_PROXIES"] = trusted_proxies
        app.config["TRUSTED_HEADERS"] = trusted_headers
    admin.extensions[FRONTEND_KEY] = frontend
    dispatcher = DispatcherMiddleware(frontend, {ADMIN_MOUNT: admin})

    def application(environ, start_response):
        # uWSGI's mount (or ProxyFix, from X-Forwarded-Prefix) has set
        # SCRIPT_NAME to the prefix; the dispatcher is about to extend it for
        # the admin, so remember the frontend's root for links back to it.
        root = environ.get("SCRIPT_NAME", "")
        environ[ROOT_KEY] = root
        environ[ADMIN_ROOT_KEY] = root + ADMIN_MOUNT
        if environ.get("PATH_INFO") == HEALTH_PATH:
            return health.answer(environ, start_response, frontend)
        return dispatcher(environ, start_response)

    if trusted_headers:
        # Outer, so a trusted forwarded prefix is already in SCRIPT_NAME above.
        counts = {f"x_{name}": trusted_proxies if name in trusted_headers else 0 for name in FORWARDED}
        application = ProxyFix(application, **counts)
    return scheme_from_nginx(application)


def scheme_from_nginx(app):
    """Take the URL scheme from nginx's REQUEST_SCHEME, not from the client.

    uWSGI sets wsgi.url_scheme to https when a request carries
    X-Forwarded-Proto: https or X-Forwarded-Ssl: on, whoever sent it. nginx
    passes the scheme it really served as REQUEST_SCHEME; only ProxyFix, with
    trusted proxies configured, may change it after that.
    """

    def application(environ, start_response):
        if environ.get("REQUEST_SCHEME") in ("http", "https"):
            environ["wsgi.url_scheme"] = environ["REQUEST_SCHEME"]
        return app(environ, start_response)

    return application
