import io
import os
import re
import stat
from pathlib import Path

import pytest

from support import GIF, JPEG, PNG, WEBP
from subsite import uploads


@pytest.mark.parametrize(
    "head, ext",
    [
        (PNG, "png"),
        (JPEG, "jpg"),
        (b"GIF87a....", "gif"),
        (GIF, "gif"),
        (WEBP, "webp"),
        (b"", None),
        (b"\x89PNG", None),  # truncated signature
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", None),
        (b"<?php system($_GET['c']); ?>", None),
        (b"%PDF-1.7", None),
        (b"BM\x00\x00", None),  # BMP
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", None),
        (b"GIF90a", None),
    ],
)
def test_detect(head, ext):
    assert uploads.detect(head[:12]) == ext


@pytest.fixture
def token(auth):
    auth.login()
    return auth.token()


def upload(client, token, content, filename="x.png", content_type="image/png"):
    image = (io.BytesIO(content), filename, content_type)
    return client.post("/admin/posts/new", data={"csrf_token": token, "title": "t", "body": "b", "image": image})


def stored(config):
    folder = Path(config["UPLOADS_DIR"])
    return sorted(folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize(
    "content, filename, ext",
    [(PNG, "photo.exe", "png"), (JPEG, "a.php", "jpg"), (GIF, "no-extension", "gif"), (WEBP, "x.png", "webp")],
)
def test_name_comes_from_the_content(client, token, config, content, filename, ext):
    assert upload(client, token, content, filename, "application/octet-stream").status_code == 303
    [path] = stored(config)
    assert re.fullmatch(r"[0-9a-f]{32}\." + ext, path.name)
    assert path.read_bytes() == content


@pytest.mark.parametrize(
    "content, filename, content_type",
    [
        (b"<?php echo 1; ?>", "shell.png", "image/png"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "a.svg", "image/svg+xml"),
        (b"<html><script>alert(1)</script>", "a.gif", "image/gif"),
        (b"", "empty.jpg", "image/jpeg"),
    ],
)
def test_non_images_are_refused(client, token, config, content, filename, content_type):
    response = upload(client, token, content, filename, content_type)
    assert response.status_code == 400
    assert "not an image this site accepts" in response.text
    assert "PNG, JPEG, GIF or WebP" in response.text
    assert stored(config) == []
    assert client.get("/api/posts").json == []


def test_empty_file_field_means_no_image(client, token, config):
    response = client.post(
        "/admin/posts/new",
        data={"csrf_token": token, "title": "t", "body": "b", "image": (io.BytesIO(b""), "")},
    )
    assert response.status_code == 303
    assert stored(config) == []


def test_uploads_dir_is_created(client, token, config):
    assert not Path(config["UPLOADS_DIR"]).exists()
    assert upload(client, token, PNG).status_code == 303
    assert len(stored(config)) == 1


@pytest.mark.parametrize("area", ["", "/admin"])
def test_uploads_are_served_by_both_apps(client, add_post, config, area):
    add_post(image=PNG)
    [path] = stored(config)
    response = client.get(f"{area}/uploads/{path.name}")
    assert response.status_code == 200
    assert response.data == PNG
    assert response.mimetype == "image/png"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("name", ["../subsite.db", "..%2fsubsite.db", "%2e%2e/subsite.db", "missing.png"])
def test_uploads_route_stays_in_its_folder(client, add_post, name):
    add_post()  # creates the database file next to the uploads folder
    assert client.get(f"/uploads/{name}").status_code == 404


def test_too_large_upload(client, token):
    response = upload(client, token, PNG + b"\x00" * (8 * 1024 * 1024))
    assert response.status_code == 413


def test_remove_ignores_names_it_did_not_make(frontend, config, tmp_path):
    victim = tmp_path / "keep.txt"
    victim.write_text("x")
    with frontend.app_context():
        uploads.remove("../keep.txt")
        uploads.remove(None)
    assert victim.exists()


def test_stored_file_is_not_world_writable(client, token, config):
    old = os.umask(0)  # as uWSGI daemonizes
    try:
        assert upload(client, token, PNG).status_code == 303
    finally:
        os.umask(old)
    [path] = stored(config)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


# ---- with PostgreSQL: the images of every host -------------------------------------------------

@pytest.fixture
def two_hosts(make_client, config, pg_url, tmp_path):
    """Clients of two hosts sharing one PostgreSQL database, each with its own uploads directory."""
    from support import AuthActions

    hosts = {}
    for name in ("a", "b"):
        uploads_dir = tmp_path / f"uploads-{name}"
        client = make_client(DATABASE=pg_url, UPLOADS_DIR=str(uploads_dir))
        AuthActions(client).login()
        hosts[name] = (client, uploads_dir, AuthActions(client).token())
    return hosts


def test_an_image_taken_by_one_host_is_copied_by_another_and_sent_by_nginx(two_hosts, prefix, monkeypatch):
    from subsite import db

    (a, a_dir, token), (b, b_dir, _) = two_hosts["a"], two_hosts["b"]
    assert upload(a, token, PNG).status_code == 303
    [name] = [p.name for p in a_dir.iterdir()]
    assert not b_dir.exists(), "host b has not seen it yet"
    # nginx on host b finds no file and passes the request on (error_page 404 -> @subsite_upload).
    fetched = b.get(f"/_upload/{name}")
    assert fetched.status_code == 200 and fetched.data == b""
    assert fetched.headers["X-Accel-Redirect"] == f"{prefix}/uploads/{name}", "nginx sends the file"
    assert "Content-Type" not in fetched.headers, "nginx would keep it: the file's type is nginx's"
    copy = b_dir / name
    assert copy.read_bytes() == PNG and stat.S_IMODE(copy.stat().st_mode) == 0o644
    # Copied once: asked again, the database is not read again (no amplification of a request).
    monkeypatch.setattr(db, "get_upload", lambda name: pytest.fail("read again"))
    assert b.get(f"/_upload/{name}").headers["X-Accel-Redirect"] == f"{prefix}/uploads/{name}"


def test_a_removed_image_is_gone_for_every_host(two_hosts):
    (a, a_dir, token), (b, _, _) = two_hosts["a"], two_hosts["b"]
    assert upload(a, token, GIF).status_code == 303
    [name] = [p.name for p in a_dir.iterdir()]
    post_id = a.get("/api/posts").json[0]["id"]
    assert a.post(f"/admin/posts/{post_id}/delete", data={"csrf_token": token}).status_code == 303
    assert not (a_dir / name).exists()
    assert b.get(f"/_upload/{name}").status_code == 404, "the database's copy went with it"


@pytest.mark.parametrize("name", ["../../etc/passwd", "x.png", "0" * 32 + ".svg", "0" * 32 + ".png"])
def test_only_names_the_app_made_and_the_database_holds_are_fetched(two_hosts, name):
    b, b_dir, _ = two_hosts["b"]
    assert b.get(f"/_upload/{name}").status_code == 404
    assert not b_dir.exists()


def test_an_sqlite_host_keeps_no_image_in_the_database(client, auth, config):
    auth.login()
    assert upload(client, auth.token(), PNG).status_code == 303
    [path] = stored(config)
    assert client.get(f"/_upload/{path.name}").status_code == 404, "one host: nginx sends its files itself"
