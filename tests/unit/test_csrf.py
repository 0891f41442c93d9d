import pytest

from support import AuthActions, MountedClient, csrf_token


def admin_posts(post_id):
    """Every admin POST endpoint with form data that would otherwise work."""
    fields = {"title": "t", "body": "b"}
    return [
        ("/admin/posts/new", fields),
        (f"/admin/posts/{post_id}/edit", fields),
        (f"/admin/posts/{post_id}/delete", {}),
        ("/admin/api/posts", fields),
        ("/admin/logout", {}),
    ]


@pytest.mark.parametrize("sent", [None, "", "wrong", "ünïcode"])
def test_login_without_the_token_is_refused(client, sent):
    client.get("/admin/login")  # the session now has a token
    data = {"password": "correct horse battery staple"}
    if sent is not None:
        data["csrf_token"] = sent
    response = client.post("/admin/login", data=data)
    assert response.status_code == 400
    assert "CSRF" in response.text
    assert client.get("/admin/").status_code == 303


def test_login_without_a_session_is_refused(client):
    response = client.post("/admin/login", data={"password": "x", "csrf_token": "made-up"})
    assert response.status_code == 400


@pytest.mark.parametrize("index", range(5))
@pytest.mark.parametrize("sent", [None, "wrong"])
def test_admin_posts_without_the_token_are_refused(client, auth, add_post, index, sent):
    post_id = add_post("Keep me", "Body")
    auth.login()
    path, data = admin_posts(post_id)[index]
    if sent is not None:
        data = {**data, "csrf_token": sent}
    response = client.post(path, data=data)
    assert response.status_code == 400
    assert [post["title"] for post in client.get("/api/posts").json] == ["Keep me"]
    assert client.get("/admin/").status_code == 200  # still logged in


def test_token_from_another_session_is_refused(app, auth, prefix, add_post):
    other = MountedClient(app, prefix)
    AuthActions(other).login()
    stolen = AuthActions(other).token()
    auth.login()
    response = auth.client.post("/admin/api/posts", json={"title": "t", "body": "b"}, headers={"X-CSRF-Token": stolen})
    assert response.status_code == 400


def test_header_token_is_accepted(client, auth):
    auth.login()
    response = client.post("/admin/api/posts", data={"title": "t", "body": "b"}, headers={"X-CSRF-Token": auth.token()})
    assert response.status_code == 303


def test_login_gives_a_new_token(client, auth):
    before = csrf_token(client.get("/admin/login").text)
    auth.login()
    assert auth.token() != before


def test_frontend_has_no_forms_to_protect(client, add_post):
    add_post()
    for path in ("/", "/dir/", "/posts/1"):
        assert "<form" not in client.get(path).text
