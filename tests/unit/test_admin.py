import io
import re
from pathlib import Path

import pytest

from support import GIF, JPEG, PNG, WEBP, csrf_token, emitted_urls


def assert_urls_under(html, prefix):
    urls = emitted_urls(html)
    assert urls
    for tag, attribute, url in urls:
        assert url.startswith(prefix + "/") and not url.startswith("//"), (tag, attribute, url)
    return urls


def new_post(client, token, **fields):
    data = {"csrf_token": token, "title": "Title", "body": "Body", **fields}
    return client.post("/admin/posts/new", data=data)


@pytest.fixture
def token(auth):
    auth.login()
    return auth.token()


def test_index_lists_posts_with_links(client, token, add_post, prefix):
    post_id = add_post("Listed", "Body", image=PNG)
    response = client.get("/admin/")
    assert response.status_code == 200
    assert "Listed" in response.text
    urls = assert_urls_under(response.text, prefix)
    assert ("a", "href", f"{prefix}/posts/{post_id}") in urls  # view on site
    assert ("a", "href", f"{prefix}/admin/posts/{post_id}/edit") in urls
    assert ("form", "action", f"{prefix}/admin/posts/{post_id}/delete") in urls
    assert ("form", "action", f"{prefix}/admin/logout") in urls
    assert ("link", "href", f"{prefix}/admin/static/style.css") in urls
    assert ("a", "href", f"{prefix}/") in urls
    assert any(tag == "img" and url.startswith(f"{prefix}/admin/uploads/") for tag, _, url in urls)
    assert response.headers["Cache-Control"] == "no-store"


def test_new_post_form(client, token, prefix):
    response = client.get("/admin/posts/new")
    assert response.status_code == 200
    assert csrf_token(response.text) == token
    urls = assert_urls_under(response.text, prefix)
    assert ("form", "action", f"{prefix}/admin/posts/new") in urls


def test_new_post_redirects_to_its_page_on_the_site(client, token, prefix):
    response = new_post(client, token, title="Fresh", body="News")
    assert response.status_code == 303
    match = re.fullmatch(re.escape(prefix) + r"/posts/(\d+)", response.location)
    assert match, response.location
    page = client.get(client.under_prefix(response.location))
    assert page.status_code == 200 and "Fresh" in page.text


@pytest.mark.parametrize("content", [PNG, JPEG, GIF, WEBP], ids=["png", "jpeg", "gif", "webp"])
def test_new_post_with_image(client, token, prefix, config, content):
    response = new_post(client, token, image=(io.BytesIO(content), "whatever.bin"))
    assert response.status_code == 303
    page = client.get(client.under_prefix(response.location))
    [image] = [url for tag, _, url in emitted_urls(page.text) if tag == "img"]
    assert image.startswith(f"{prefix}/uploads/")
    assert client.get(client.under_prefix(image)).data == content
    assert [p.read_bytes() for p in Path(config["UPLOADS_DIR"]).iterdir()] == [content]


@pytest.mark.parametrize("fields", [{"title": ""}, {"body": "   "}, {"title": "x" * 201}])
def test_new_post_refuses_incomplete(client, token, prefix, fields):
    response = new_post(client, token, **{"body": "typed text", **fields})
    assert response.status_code == 400
    assert 'class="error"' in response.text
    assert_urls_under(response.text, prefix)
    assert client.get("/api/posts").json == []


def test_new_post_keeps_typed_text_on_error(client, token):
    response = new_post(client, token, title="", body="keep me")
    assert ">keep me</textarea>" in response.text


def test_edit_post(client, token, add_post, prefix):
    post_id = add_post("Before", "Old body")
    page = client.get(f"/admin/posts/{post_id}/edit")
    assert 'value="Before"' in page.text
    urls = assert_urls_under(page.text, prefix)
    assert ("form", "action", f"{prefix}/admin/posts/{post_id}/edit") in urls
    response = client.post(
        f"/admin/posts/{post_id}/edit", data={"csrf_token": token, "title": "After", "body": "New body"}
    )
    assert response.status_code == 303
    assert response.location == f"{prefix}/admin/"
    assert "Saved" in client.get("/admin/").text
    assert client.get(f"/api/posts/{post_id}").json["title"] == "After"


def test_edit_replaces_and_removes_image(client, token, add_post, config):
    post_id = add_post("Pictured", "Body", image=PNG)
    uploads = Path(config["UPLOADS_DIR"])
    [old] = list(uploads.iterdir())
    data = {"csrf_token": token, "title": "Pictured", "body": "Body", "image": (io.BytesIO(GIF), "new.gif")}
    assert client.post(f"/admin/posts/{post_id}/edit", data=data).status_code == 303
    [new] = list(uploads.iterdir())
    assert new != old and new.suffix == ".gif"
    data = {"csrf_token": token, "title": "Pictured", "body": "Body", "remove_image": "1"}
    assert client.post(f"/admin/posts/{post_id}/edit", data=data).status_code == 303
    assert list(uploads.iterdir()) == []
    assert client.get(f"/api/posts/{post_id}").json["image"] is None


def test_edit_error_keeps_typed_text(client, token, add_post):
    post_id = add_post("Title", "Body")
    response = client.post(f"/admin/posts/{post_id}/edit", data={"csrf_token": token, "title": "", "body": "typed"})
    assert response.status_code == 400
    assert ">typed</textarea>" in response.text


def test_edit_missing_post(client, token):
    assert client.get("/admin/posts/9/edit").status_code == 404


@pytest.mark.parametrize("post_id", ["9" * 20, "9223372036854775808", "-1"])
def test_an_id_out_of_range_is_404(client, token, post_id):
    assert client.get(f"/admin/posts/{post_id}/edit").status_code == 404
    assert client.post(f"/admin/posts/{post_id}/edit", data={"csrf_token": token}).status_code == 404
    assert client.post(f"/admin/posts/{post_id}/delete", data={"csrf_token": token}).status_code == 404


def test_delete_post(client, token, add_post, config, prefix):
    post_id = add_post("Doomed", "Body", image=PNG)
    response = client.post(f"/admin/posts/{post_id}/delete", data={"csrf_token": token})
    assert response.status_code == 303
    assert response.location == f"{prefix}/admin/"
    assert client.get(f"/posts/{post_id}").status_code == 404
    assert list(Path(config["UPLOADS_DIR"]).iterdir()) == []


def test_delete_needs_post(client, token, add_post):
    post_id = add_post()
    assert client.get(f"/admin/posts/{post_id}/delete").status_code == 405


def test_api_create_from_form(client, token, prefix):
    data = {"csrf_token": token, "title": "Via API", "body": "Form fields", "image": (io.BytesIO(JPEG), "x")}
    response = client.post("/admin/api/posts", data=data)
    assert response.status_code == 303
    post_id = response.json["id"]
    assert response.location == f"{prefix}/posts/{post_id}" == response.json["url"]
    created = client.get(f"/api/posts/{post_id}").json
    assert created["title"] == "Via API" and created["image"].startswith(f"{prefix}/uploads/")


def test_api_create_from_json(client, token, prefix):
    response = client.post("/admin/api/posts", json={"title": "JSON", "body": "Body"}, headers={"X-CSRF-Token": token})
    assert response.status_code == 303
    assert response.location == f"{prefix}/posts/{response.json['id']}"


@pytest.mark.parametrize("payload", [[1, 2], {"title": "no body"}, {"title": 1, "body": 2}, "text"])
def test_api_create_refuses_bad_json(client, token, payload):
    response = client.post("/admin/api/posts", json=payload, headers={"X-CSRF-Token": token})
    assert response.status_code == 400
    assert "error" in response.json


def test_api_create_refuses_a_non_image(client, token):
    data = {"csrf_token": token, "title": "t", "body": "b", "image": (io.BytesIO(b"<?php echo 1;"), "a.png")}
    response = client.post("/admin/api/posts", data=data)
    assert response.status_code == 400
    assert "PNG, JPEG, GIF or WebP" in response.json["error"]


def test_api_csrf(client, token):
    response = client.get("/admin/api/csrf")
    assert response.json == {"csrf_token": token}
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("path", ["/admin/", "/admin/posts/new", "/admin/diagnostics", "/admin/login"])
def test_head(client, token, path):
    response = client.head(path)
    assert response.status_code == 200
    assert response.data == b""


@pytest.mark.parametrize(("title", "body"), [("a\0b", "Body"), ("Title", "nul \0 here"), ("bell\x07", "Body"),
                                             ("Title", "del \x7f")])
def test_control_characters_are_refused(client, token, title, body):
    response = client.post("/admin/api/posts", json={"title": title, "body": body}, headers={"X-CSRF-Token": token})
    assert response.status_code == 400
    assert "control characters" in response.json["error"]


def test_tabs_and_newlines_in_the_body_are_kept(client, token):
    response = client.post("/admin/api/posts", json={"title": "T", "body": "a\tb\r\nc"}, headers={"X-CSRF-Token": token})
    assert response.status_code == 303
