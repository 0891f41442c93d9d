import pytest

from subsite.links import site_url_for


@pytest.mark.parametrize("root", ["", "/subsite", "/a/b"])
def test_site_url_for(admin, frontend, root):
    admin.extensions["subsite.frontend"] = frontend
    environ = {"subsite.root": root}
    with admin.test_request_context("/", base_url=f"http://localhost{root}/admin", environ_base=environ):
        assert site_url_for("index") == f"{root}/"
        assert site_url_for("post", post_id=3) == f"{root}/posts/3"
        assert site_url_for("uploads", filename="a.png") == f"{root}/uploads/a.png"
        assert site_url_for("static", filename="style.css") == f"{root}/static/style.css"
        assert site_url_for("directory", sort="x") == f"{root}/dir/?sort=x"


def test_site_url_for_has_no_host(admin, frontend):
    admin.extensions["subsite.frontend"] = frontend
    environ = {"subsite.root": "/p"}
    with admin.test_request_context("/", base_url="https://evil.test/p/admin", environ_base=environ):
        assert site_url_for("index") == "/p/"


def test_view_site_link(client, prefix):
    assert f'href="{prefix}/"' in client.get("/admin/login").text
