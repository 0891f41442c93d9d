"""Session cookies scoped to the URL prefix the request arrived under."""

from flask import request
from flask.sessions import SecureCookieSessionInterface


class PrefixSessionInterface(SecureCookieSessionInterface):
    """Signed cookie sessions whose Path is the request's script root.

    The prefix is only known per request (uWSGI's mount sets SCRIPT_NAME),
    so the cookie attributes come from the request, never from config.
    The admin's root is the frontend's plus /admin, so its cookie is never
    sent to the public pages.
    """

    def __init__(self, cookie_name):
        self.cookie_name = cookie_name
        self._serializer = (None, None)

    def get_signing_serializer(self, app):
        # Flask builds a new serializer for every request, which costs about a
        # fifth of a small request; it only depends on the keys, so keep it.
        keys = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        if self._serializer[0] != keys:
            self._serializer = (keys, super().get_signing_serializer(app))
        return self._serializer[1]

    def open_session(self, app, request):
        # Most requests carry no session cookie (no public page sets one):
        # then the new, empty session Flask would make, without parsing the
        # Cookie header.
        if self.cookie_name in request.environ.get("HTTP_COOKIE", "") or self.get_signing_serializer(app) is None:
            return super().open_session(app, request)
        return self.session_class()

    def get_cookie_name(self, app):
        return self.cookie_name

    def get_cookie_path(self, app):
        return request.script_root or "/"

    def get_cookie_secure(self, app):
        # Behind a TLS-terminating proxy this is only true when the proxy is
        # trusted (ProxyFix applied X-Forwarded-Proto).
        return request.is_secure

    def get_cookie_httponly(self, app):
        return True

    def get_cookie_samesite(self, app):
        return "Lax"
