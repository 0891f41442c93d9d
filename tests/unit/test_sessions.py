import pytest
from flask import Flask, session
from itsdangerous import BadSignature

from support import MountedClient, set_cookie
from subsite.layout import ADMIN_COOKIE, FRONTEND_COOKIE
from subsite.sessions import PrefixSessionInterface


def test_cookie_names_differ():
    assert FRONTEND_COOKIE == "subsite_front"
    assert ADMIN_COOKIE == "subsite_admin"


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_frontend_cookie(frontend, app, prefix, scheme):
    # No public page writes the frontend's session (nginx keeps them in its
    # cache, for everyone): a page that did would get this cookie.
    frontend.add_url_rule("/remember", "remember", lambda: session.update(remembered=True) or "kept")
    client = MountedClient(app, prefix, scheme)
    assert set_cookie(client.get("/"), FRONTEND_COOKIE) is None
    response = client.get("/remember")
    cookie = set_cookie(response, FRONTEND_COOKIE)
    assert cookie["path"] == (prefix or "/")
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie.get("secure", False) is (scheme == "https")
    assert "domain" not in cookie
    assert set_cookie(response, ADMIN_COOKIE) is None


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_admin_cookie(app, prefix, scheme):
    client = MountedClient(app, prefix, scheme)
    response = client.get("/admin/login")
    cookie = set_cookie(response, ADMIN_COOKIE)
    assert cookie["path"] == f"{prefix}/admin"
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie.get("secure", False) is (scheme == "https")
    assert set_cookie(response, FRONTEND_COOKIE) is None


def test_login_cookie_path(client, auth, prefix):
    response = auth.login()
    assert set_cookie(response, ADMIN_COOKIE)["path"] == f"{prefix}/admin"
    # The test client keeps cookies by path the way browsers do.
    assert client.get_cookie(ADMIN_COOKIE, path=f"{prefix}/admin") is not None
    assert client.get_cookie(ADMIN_COOKIE, path=prefix or "/") is None


def test_logout_clears_the_cookie_at_the_same_path(client, auth, prefix):
    auth.login()
    response = auth.logout()
    cookie = set_cookie(response, ADMIN_COOKIE)
    assert cookie["path"] == f"{prefix}/admin"
    assert cookie["value"] == ""  # an empty, expired cookie deletes it
    assert client.get_cookie(ADMIN_COOKIE, path=f"{prefix}/admin") is None


def test_a_session_cookie_is_read_back(frontend, app, prefix):
    # Requests without the cookie skip reading the Cookie header; those with it do not.
    frontend.add_url_rule("/remember", "remember", lambda: session.update(remembered=True) or "kept")
    frontend.add_url_rule("/recall", "recall", lambda: {"remembered": session.get("remembered", False)})
    client = MountedClient(app, prefix)
    client.set_cookie("other", "1", path=prefix or "/")
    assert client.get("/recall").json == {"remembered": False}
    client.get("/remember")
    assert client.get("/recall").json == {"remembered": True}


def test_admin_cookie_is_not_sent_to_the_frontend(client, auth):
    auth.login()
    assert ADMIN_COOKIE in client.get("/admin/").request.environ["HTTP_COOKIE"]
    # Its Path keeps it away from the public pages, like a browser would.
    response = client.get("/")
    assert ADMIN_COOKIE not in response.request.environ.get("HTTP_COOKIE", "")
    assert set_cookie(response, ADMIN_COOKIE) is None


@pytest.mark.parametrize("script_name, expected", [("", "/"), ("/x", "/x"), ("/x/y", "/x/y")])
def test_interface_uses_the_script_root(script_name, expected):
    app = Flask(__name__)
    app.secret_key = "k"
    app.session_interface = PrefixSessionInterface("name")

    @app.route("/")
    def index():
        session["a"] = 1
        return ""

    response = app.test_client().get("/", environ_overrides={"SCRIPT_NAME": script_name})
    cookie = set_cookie(response, "name")
    assert cookie["path"] == expected


def test_the_signing_serializer_is_kept_until_the_keys_change():
    app = Flask(__name__)
    app.secret_key = "first"
    interface = PrefixSessionInterface("name")
    kept = interface.get_signing_serializer(app)
    assert interface.get_signing_serializer(app) is kept
    signed = kept.dumps({"a": 1})

    app.secret_key = "second"
    rotated = interface.get_signing_serializer(app)
    assert rotated is not kept
    with pytest.raises(BadSignature):
        rotated.loads(signed)

    app.config["SECRET_KEY_FALLBACKS"] = ["first"]
    assert interface.get_signing_serializer(app).loads(signed) == {"a": 1}
