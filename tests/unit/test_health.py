import logging
import shutil
from urllib.parse import unquote

import pytest

from support import MountedClient, set_cookie
from subsite import __version__


def test_health(client, prefix):
    response = client.get("/_health")
    assert response.status_code == 200
    assert response.json == {
        "status": "ok",
        "version": __version__,
        "script_root": prefix,
        "database": "ok",
    }
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Length"] == str(len(response.data))
    # Flask's own JSON form, so monitors see the same bytes as from the app's pages.
    assert response.data.endswith(b'"status":"ok","version":"' + __version__.encode() + b'"}\n')


def test_health_sets_no_cookie(client):
    assert set_cookie(client.get("/_health"), "subsite_front") is None
    assert "Set-Cookie" not in client.get("/_health").headers


def test_health_reports_a_broken_database(make_client, prefix, tmp_path, caplog):
    client = make_client(DATABASE=str(tmp_path / "missing-dir" / "subsite.db"))
    with caplog.at_level(logging.ERROR, logger="subsite.frontend"):
        response = client.get("/_health")
    assert response.status_code == 503
    assert response.json["status"] == "error"
    assert response.json["database"] not in ("", "ok")
    assert response.json["script_root"] == prefix
    assert "health check: database error" in caplog.text


def test_health_head_has_the_length_and_no_body(client):
    response = client.head("/_health")
    assert response.status_code == 200
    assert response.data == b""
    assert int(response.headers["Content-Length"]) == len(client.get("/_health").data)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_health_answers_only_get_and_head(client, method):
    response = client.open("/_health", method=method)
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD"


@pytest.mark.parametrize("path", ["/_health/", "/_health/x", "/_healthz", "/admin/_health"])
def test_only_the_exact_path_is_the_probe(client, path):
    assert client.get(path).status_code == 404


def test_health_names_each_script_root_it_is_reached_under(app):
    # The healthy reply is made once per script root; each root gets its own.
    for root in ("/a", "/b/c", "", "/caf%C3%A9"):
        response = MountedClient(app, root).get("/_health")
        assert response.json["script_root"] == unquote(root)


def test_health_checks_the_database_on_every_request(make_client, tmp_path):
    # Only the healthy reply's bytes are kept between requests, never the verdict.
    data = tmp_path / "data"
    data.mkdir()
    client = make_client(DATABASE=str(data / "subsite.db"))
    assert client.get("/_health").status_code == 200
    shutil.rmtree(data)
    response = client.get("/_health")
    assert response.status_code == 503
    assert response.json["status"] == "error"
