import io
from urllib.parse import urlsplit

import pytest
from flask import request
from werkzeug.test import Client

from support import GIF, PASSWORD, PNG, AuthActions, csrf_token, emitted_urls, set_cookie
from subsite.application import make_application
from subsite.layout import ADMIN_MOUNT
from subsite.settings import FORWARDED

FORGED = {
    "X-Forwarded-For": "203.0.113.9",
    "X-Forwarded-Host": "public.example",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Prefix": "/edge",
}


def test_wiring(frontend, admin):
    make_application(frontend, admin, trusted_proxies=2)
    assert admin.extensions["subsite.frontend"] is frontend
    assert frontend.config["TRUSTED_PROXIES"] == admin.config["TRUSTED_PROXIES"] == 2
    assert frontend.config["TRUSTED_HEADERS"] == admin.config["TRUSTED_HEADERS"] == ("for", "proto")
    assert ADMIN_MOUNT == "/admin"


def test_no_trusted_proxy_trusts_no_header(frontend, admin):
    make_application(frontend, admin, trusted_proxies=0, trusted_headers=FORWARDED)
    assert frontend.config["TRUSTED_HEADERS"] == admin.config["TRUSTED_HEADERS"] == ()


@pytest.mark.parametrize(
    ("trusted", "request_scheme", "headers", "expected"),
    [
        # uWSGI turns these headers into wsgi.url_scheme=https; nginx's REQUEST_SCHEME wins.
        (0, "http", {"X-Forwarded-Proto": "https"}, "http"),
        (0, "http", {"X-Forwarded-Ssl": "on"}, "http"),
        (0, "https", {}, "https"),
        (1, "http", {"X-Forwarded-Proto": "https"}, "https"),
    ],
    ids=["forged-proto", "forged-ssl", "nginx-https", "trusted-proxy"],
)
def test_scheme_comes_from_nginx(frontend, admin, trusted, request_scheme, headers, expected):
    seen = []
    frontend.before_request(lambda: seen.append(request.scheme))
    application = make_application(frontend, admin, trusted_proxies=trusted)
    environ = {"REQUEST_SCHEME": request_scheme, "wsgi.url_scheme": "https"}
    Client(application).get("/", headers=headers, environ_base=environ)
    assert seen == [expected]


def test_records_the_frontend_root(frontend, client, prefix):
    seen = []
    frontend.before_request(lambda: seen.append(request.environ["subsite.root"]))
    client.get("/")
    assert seen == [prefix]


@pytest.mark.parametrize(
    "path, status",
    [("/admin", 308), ("/admin/", 303), ("/admin/login", 200), ("/administrator", 404), ("/adminx/", 404)],
)
def test_dispatch(client, prefix, path, status):
    response = client.get(path)
    assert response.status_code == status
    if path == "/admin":
        assert response.location == f"{prefix}/admin/"


@pytest.mark.parametrize("path", ["/", "/dir/", "/_health", "/admin/login"])
def test_forwarded_headers_ignored_by_default(client, prefix, path):
    response = client.get(path, headers=FORGED)
    assert response.status_code == 200
    for name, value in response.headers.items():
        assert "edge" not in value and "public.example" not in value, name
    for cookie in response.headers.getlist("Set-Cookie"):
        assert "Secure" not in cookie
    if path == "/_health":
        assert response.json["script_root"] == prefix


def test_forwarded_headers_ignored_in_redirects(client, prefix):
    response = client.get("/dir", headers=FORGED)
    assert response.location == f"{prefix}/dir/"


def test_one_trusted_proxy_applies_only_for_and_proto_by_default(make_client, prefix):
    # A proxy that passes the client's X-Forwarded-Prefix and -Host on must
    # not let the client choose the script root: cookie paths, every link.
    client = make_client(trusted_proxies=1)
    health = client.get("/_health", headers=FORGED)
    assert health.json["script_root"] == prefix
    redirect = client.get("/dir", headers=FORGED)
    assert redirect.location == f"{prefix}/dir/"
    login = client.get("/admin/login", headers=FORGED)
    cookie = set_cookie(login, "subsite_admin")
    assert cookie["path"] == f"{prefix}/admin" and cookie["secure"] is True  # Proto is applied
    page = client.get("/", headers=FORGED)
    assert "Set-Cookie" not in page.headers
    for _, _, url in emitted_urls(page.text):
        assert url.startswith(prefix + "/") and "edge" not in url
    for name, value in page.headers.items():
        assert "edge" not in value and "public.example" not in value, name


def test_proxy_fix_with_every_header_trusted(make_client):
    client = make_client(trusted_proxies=1, trusted_headers=FORWARDED)
    health = client.get("/_health", headers=FORGED)
    assert health.json["script_root"] == "/edge"
    redirect = client.get("/dir", headers=FORGED)
    # Relative (no forwarded host in it) and under the forwarded prefix.
    assert redirect.location == "/edge/dir/"
    cookie = set_cookie(client.get("/admin/login", headers=FORGED), "subsite_admin")
    assert cookie["path"] == "/edge/admin" and cookie["secure"] is True
    page = client.get("/", headers=FORGED)
    for _, _, url in emitted_urls(page.text):
        assert url.startswith("/edge/")


@pytest.mark.parametrize(
    ("trusted_headers", "expected"),
    [
        (("for", "proto"), {"remote_addr": "203.0.113.9", "scheme": "https", "host": "localhost", "root": ""}),
        (("for",), {"remote_addr": "203.0.113.9", "scheme": "http", "host": "localhost", "root": ""}),
        (("host",), {"remote_addr": "192.0.2.7", "scheme": "http", "host": "public.example", "root": ""}),
        (("prefix",), {"remote_addr": "192.0.2.7", "scheme": "http", "host": "localhost", "root": "/edge"}),
        ((), {"remote_addr": "192.0.2.7", "scheme": "http", "host": "localhost", "root": ""}),
    ],
    ids=["default", "for", "host", "prefix", "none"],
)
def test_only_the_named_headers_are_applied(frontend, admin, trusted_headers, expected):
    seen = []
    frontend.before_request(lambda: seen.append(
        {"remote_addr": request.remote_addr, "scheme": request.scheme, "host": request.host,
         "root": request.script_root}))
    application = make_application(frontend, admin, trusted_proxies=1, trusted_headers=trusted_headers)
    Client(application).get("/", headers=FORGED, environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert seen == [expected]


def test_login_behind_a_trusted_proxy(make_client):
    # The browser sees https://public.example/edge/, which the test client's
    # cookie jar cannot model, so carry the cookie by hand.
    client = make_client(trusted_proxies=1, trusted_headers=FORWARDED, use_cookies=False)
    page = client.get("/admin/login", headers=FORGED)
    cookie = set_cookie(page, "subsite_admin")
    assert cookie["path"] == "/edge/admin" and cookie["secure"] is True
    response = client.post(
        "/admin/login",
        headers={**FORGED, "Cookie": f"subsite_admin={cookie['value']}"},
        data={"password": PASSWORD, "csrf_token": csrf_token(page.text)},
    )
    assert response.status_code == 303
    assert response.location == "/edge/admin/"


@pytest.mark.parametrize("path", ["/dir", "/admin", "/admin/posts/new", "/admin/diagnostics"])
@pytest.mark.parametrize("trusted_proxies", [0, 1])
def test_forged_host_never_in_location(make_client, path, trusted_proxies):
    client = make_client(trusted_proxies=trusted_proxies, trusted_headers=FORWARDED)
    for headers in ({"Host": "evil.test"}, {"X-Forwarded-Host": "evil.test"}, {"Host": "evil.test:80"}):
        response = client.get(path, headers=headers)
        assert 300 <= response.status_code < 400
        assert "evil.test" not in response.location
        assert urlsplit(response.location).netloc == ""
        assert "evil.test" not in response.text


def crawl(client, start):
    """Fetch every page reachable by GET from ``start``; return {url: response}."""
    seen, queue = {}, list(start)
    while queue:
        url = queue.pop()
        if url in seen:
            continue
        response = client.get(client.under_prefix(url))
        seen[url] = response
        if response.mimetype == "text/html":
            for tag, _, found in emitted_urls(response.text):
                if tag != "form" and found not in seen:
                    queue.append(found)
    return seen


def test_every_url_the_app_emits_is_under_the_prefix(client, prefix, config):
    """Log in, create posts with images, then follow every link and source."""
    auth = AuthActions(client)
    auth.login()
    token = auth.token()
    for image in (PNG, GIF, None):
        data = {"csrf_token": token, "title": "T", "body": "B"}
        if image:
            data["image"] = (io.BytesIO(image), "x")
        assert client.post("/admin/posts/new", data=data).status_code == 303
    pages = crawl(client, [f"{prefix}/", f"{prefix}/admin/"])
    # Every page of both apps was reached through links alone.
    for path in ("/", "/dir/", "/posts/1", "/admin/", "/admin/posts/new", "/admin/posts/1/edit", "/admin/diagnostics"):
        assert prefix + path in pages, path
    assert any(url.startswith(f"{prefix}/uploads/") for url in pages)
    assert any(url.startswith(f"{prefix}/admin/uploads/") for url in pages)
    assert f"{prefix}/static/style.css" in pages and f"{prefix}/admin/static/favicon.svg" in pages
    for url, response in pages.items():
        assert response.status_code == 200, url
        if response.mimetype == "text/html":
            for tag, attribute, found in emitted_urls(response.text):
                assert found.startswith(prefix + "/") and not found.startswith("//"), (url, tag, attribute, found)
                if tag == "form":
                    assert found.startswith(f"{prefix}/admin/"), (url, found)
