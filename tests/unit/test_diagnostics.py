from urllib.parse import parse_qs, urlsplit

import pytest

from support import AuthActions, emitted_urls
from subsite.diagnostics import port_of, proxy_fix_value
from subsite.settings import FORWARDED

PEER = {"REMOTE_ADDR": "192.0.2.7"}
FORGED = {
    "X-Forwarded-For": "203.0.113.9",
    "X-Forwarded-Host": "public.example:8443",
    "X-Forwarded-Port": "8443",
    "X-Forwarded-Prefix": "/edge",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Ssl": "on",
}


def diagnostics(client, headers=None):
    response = client.get("/admin/diagnostics?format=json", headers=headers or {}, environ_overrides=PEER)
    assert response.status_code == 200, response.location
    return response.json


def by_name(data):
    return {header["name"]: header for header in data["forwarded_headers"]}


def test_needs_login(client, prefix):
    response = client.get("/admin/diagnostics")
    assert response.status_code in (302, 303)
    assert parse_qs(urlsplit(response.location).query)["next"] == [f"{prefix}/admin/diagnostics"]


def test_plain_request(client, auth, prefix):
    auth.login()
    data = diagnostics(client)
    assert data["script_root"] == f"{prefix}/admin"
    assert data["site_root"] == prefix
    assert data["path"] == "/diagnostics"
    assert data["url"] == f"http://localhost{prefix}/admin/diagnostics?format=json"
    assert data["url_for_external"] == f"http://localhost{prefix}/admin/diagnostics"
    assert data["site_url"] == f"{prefix}/"
    assert (data["scheme"], data["host"], data["port"]) == ("http", "localhost", 80)
    assert data["remote_addr"] == "192.0.2.7"
    assert data["trusted_proxies"] == 0 and data["trusted_headers"] == []
    assert data["proxy_fix_orig"] is None
    for header in data["forwarded_headers"]:
        assert (header["present"], header["trusted"], header["applied"]) == (False, False, False)


def test_forwarded_headers_ignored_by_default(client, auth, prefix):
    auth.login()
    data = diagnostics(client, FORGED)
    assert data["script_root"] == f"{prefix}/admin"
    assert (data["scheme"], data["host"], data["remote_addr"]) == ("http", "localhost", "192.0.2.7")
    headers = by_name(data)
    assert set(headers) == set(FORGED)
    for name, value in FORGED.items():
        assert headers[name]["present"] and headers[name]["value"] == value
        assert not headers[name]["trusted"] and not headers[name]["applied"]


def test_one_trusted_proxy_applies_for_and_proto_by_default(make_client, prefix):
    client = make_client(trusted_proxies=1)
    AuthActions(client).login()
    data = diagnostics(client, FORGED)
    assert (data["trusted_proxies"], data["trusted_headers"]) == (1, ["for", "proto"])
    assert data["script_root"] == f"{prefix}/admin"  # the forged prefix is not applied
    assert (data["scheme"], data["host"], data["port"]) == ("https", "localhost", 443)
    assert data["remote_addr"] == "203.0.113.9"
    headers = by_name(data)
    applied = {name for name, header in headers.items() if header["applied"]}
    assert applied == {name for name, header in headers.items() if header["trusted"]}
    assert applied == {"X-Forwarded-For", "X-Forwarded-Proto"}
    for name in ("X-Forwarded-Host", "X-Forwarded-Port", "X-Forwarded-Prefix", "X-Forwarded-Ssl"):
        assert headers[name]["present"] and headers[name]["used"] is None, name


def test_forwarded_headers_applied_when_all_are_trusted(make_client, prefix):
    client = make_client(trusted_proxies=1, trusted_headers=FORWARDED)
    AuthActions(client).login()
    data = diagnostics(client, FORGED)
    assert data["trusted_proxies"] == 1
    assert data["trusted_headers"] == list(FORWARDED)
    assert data["script_root"] == "/edge/admin"  # X-Forwarded-Prefix replaces SCRIPT_NAME
    assert data["site_root"] == "/edge"
    assert data["site_url"] == "/edge/"
    assert (data["scheme"], data["host"], data["port"]) == ("https", "public.example:8443", 8443)
    assert data["is_secure"] is True
    assert data["remote_addr"] == "203.0.113.9"
    assert data["url_for_external"] == "https://public.example:8443/edge/admin/diagnostics"
    headers = by_name(data)
    for name in FORGED:
        expected = name != "X-Forwarded-Ssl"  # ProxyFix does not read it
        assert headers[name]["trusted"] is expected and headers[name]["applied"] is expected, name
    assert headers["X-Forwarded-Proto"]["used"] == "https"
    orig = data["proxy_fix_orig"]
    assert orig["REMOTE_ADDR"] == "192.0.2.7"
    assert orig["wsgi.url_scheme"] == "http"
    assert orig["HTTP_HOST"] == "localhost"
    assert orig["SCRIPT_NAME"] == prefix


def test_trusted_but_too_few_values(make_client):
    client = make_client(trusted_proxies=2)
    AuthActions(client).login()
    data = diagnostics(client, {"X-Forwarded-For": "203.0.113.9"})
    header = by_name(data)["X-Forwarded-For"]
    assert header["trusted"] and not header["applied"]
    assert data["remote_addr"] == "192.0.2.7"


def test_html_page(client, auth, prefix):
    auth.login()
    response = client.get("/admin/diagnostics", headers={"X-Forwarded-Host": "<b>x</b>"}, environ_overrides=PEER)
    assert response.status_code == 200
    assert "&lt;b&gt;x&lt;/b&gt;" in response.text and "<b>x</b>" not in response.text
    assert "ignored (not trusted)" in response.text
    assert f"http://localhost{prefix}/admin/diagnostics" in response.text
    urls = emitted_urls(response.text)
    assert ("a", "href", f"{prefix}/admin/diagnostics?format=json") in urls
    for _, _, url in urls:
        assert url.startswith(prefix + "/")


def test_html_page_behind_a_proxy(make_client):
    client = make_client(trusted_proxies=1)
    AuthActions(client).login()
    response = client.get("/admin/diagnostics", headers=FORGED, environ_overrides=PEER)
    assert "<code>trusted-headers = for, proto</code>" in response.text
    assert "trusted, applied: <code>203.0.113.9</code>" in response.text
    assert "ignored (not trusted: trusted-headers does not name prefix)" in response.text
    assert "ignored (never read)" in response.text
    assert "Before ProxyFix" in response.text


def test_html_page_with_no_header_trusted(make_client):
    client = make_client(trusted_proxies=1, trusted_headers=())
    AuthActions(client).login()
    response = client.get("/admin/diagnostics", headers=FORGED, environ_overrides=PEER)
    assert "no ProxyFix" in response.text and "<code>trusted-headers = none</code>" in response.text
    assert "trusted, applied" not in response.text and "Before ProxyFix" not in response.text


@pytest.mark.parametrize(
    "trusted, value, expected",
    [(0, "a", None), (1, None, None), (1, "a", "a"), (1, "a, b", "b"), (2, "a, b", "a"), (3, "a, b", None)],
)
def test_proxy_fix_value(trusted, value, expected):
    assert proxy_fix_value(trusted, value) == expected


@pytest.mark.parametrize(
    "host, scheme, port",
    [
        ("h", "http", 80),
        ("h", "https", 443),
        ("h:8080", "http", 8080),
        ("[::1]", "https", 443),
        ("[::1]:81", "http", 81),
    ],
)
def test_port_of(host, scheme, port):
    assert port_of(host, scheme) == port
