"""Test helpers: a client that mounts the app like uWSGI, logging in, reading pages."""

from html.parser import HTMLParser
from urllib.parse import urlsplit

from werkzeug.test import Client

PASSWORD = "correct horse battery staple"
PREFIXES = ["", "/subsite", "/a/b"]

# The smallest files each accepted format starts with.
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 24
GIF = b"GIF89a" + b"\x00" * 24
WEBP = b"RIFF\x1a\x00\x00\x00WEBPVP8 " + b"\x00" * 16


class MountedClient(Client):
    """A test client that calls the app the way uWSGI's mount does.

    Paths passed to get()/post() are the part under the prefix: they become
    PATH_INFO while SCRIPT_NAME is the prefix (mount + manage-script-name).
    Redirects are followed like a browser would: the Location must be a
    relative URL under the prefix, or nginx would not send it to the app.
    """

    def __init__(self, application, prefix, scheme="http", **kwargs):
        super().__init__(application, **kwargs)
        self.prefix = prefix
        self.scheme = scheme

    def open(self, *args, **kwargs):
        # Read and close every response (file responses hold an open file).
        kwargs.setdefault("buffered", True)
        if args and isinstance(args[0], str):
            kwargs.setdefault("base_url", f"{self.scheme}://localhost{self.prefix}")
        response = super().open(*args, **kwargs)
        # Large request bodies are spooled to temporary files; close them.
        for done in (*response.history, response):
            done.request.environ["wsgi.input"].close()
        return response

    def under_prefix(self, url):
        """Return the path (and query) under the prefix that ``url`` reaches the app as."""
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"{url!r} is not relative"
        assert parts.path.startswith(self.prefix + "/"), f"{url!r} is not under {self.prefix!r}"
        path = parts.path[len(self.prefix) :]
        return f"{path}?{parts.query}" if parts.query else path

    def resolve_redirect(self, response, buffered=False):
        method = "HEAD" if response.request.method == "HEAD" else "GET"
        return self.open(self.under_prefix(response.location), method=method, buffered=buffered)


class AuthActions:
    """Log a client in and out of the admin the way a browser would."""

    def __init__(self, client):
        self.client = client

    def login(self, password=PASSWORD, next=None):
        page = self.client.get("/admin/login")
        data = {"password": password, "csrf_token": csrf_token(page.text)}
        if next is not None:
            data["next"] = next
        return self.client.post("/admin/login", data=data)

    def token(self):
        """Return the session's CSRF token (logged in)."""
        return self.client.get("/admin/api/csrf").json["csrf_token"]

    def logout(self):
        return self.client.post("/admin/logout", data={"csrf_token": self.token()})


# Attributes that hold a URL the browser will request or navigate to.
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "poster", "data"}


class _PageParser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.urls = []
        self.hidden = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name, value in attrs.items():
            if name in URL_ATTRIBUTES:
                self.urls.append((tag, name, value))
        if tag == "input" and attrs.get("type") == "hidden":
            self.hidden.setdefault(attrs.get("name"), attrs.get("value"))


def parse(html):
    """Return the parser after feeding it ``html``."""
    parser = _PageParser()
    parser.feed(html)
    parser.close()
    return parser


def emitted_urls(html):
    """Return every (tag, attribute, url) in ``html``."""
    return parse(html).urls


def csrf_token(html):
    """Return the value of the first hidden csrf_token field."""
    token = parse(html).hidden.get("csrf_token")
    assert token, "no csrf_token field in the page"
    return token


def set_cookie(response, name):
    """Return the attributes of the Set-Cookie for ``name`` as a dict, or None.

    Flags (HttpOnly, Secure) map to True; names are lower-case; the cookie's
    own value is under "value".
    """
    for header in response.headers.getlist("Set-Cookie"):
        first, *params = [part.strip() for part in header.split(";")]
        key, _, value = first.partition("=")
        if key != name:
            continue
        attrs = {"value": value}
        for param in params:
            pname, sep, pvalue = param.partition("=")
            attrs[pname.lower()] = pvalue if sep else True
        return attrs
    return None
