import re
import sqlite3

import pytest

from support import MountedClient, emitted_urls, set_cookie


def assert_under(urls, prefix):
    """Every URL in a page is a relative path under the prefix."""
    assert urls
    for tag, attribute, url in urls:
        assert url.startswith(prefix + "/"), (tag, attribute, url)
        assert not url.startswith("//"), (tag, attribute, url)


def test_index_empty(client):
    response = client.get("/")
    assert response.status_code == 200
    assert "No notices yet." in response.text


def test_index_lists_posts_with_links_under_prefix(client, add_post, prefix):
    first = add_post("First notice", "x" * 1000, image=b"\x89PNG\r\n\x1a\n")
    add_post("Second <notice>", "Plain text & more")
    response = client.get("/")
    assert "First notice" in response.text
    assert "Second &lt;notice&gt;" in response.text  # autoescaped
    assert "x" * 1000 not in response.text  # only an excerpt
    urls = emitted_urls(response.text)
    assert_under(urls, prefix)
    assert ("a", "href", f"{prefix}/posts/{first}") in urls
    assert ("link", "href", f"{prefix}/static/style.css") in urls
    assert ("a", "href", f"{prefix}/admin/") in urls
    assert any(tag == "img" and url.startswith(f"{prefix}/uploads/") for tag, _, url in urls)


@pytest.mark.parametrize("path", ["/", "/dir/", "/posts/1"])
def test_every_page_links_under_prefix(client, add_post, prefix, path):
    add_post("With image", "Body", image=b"GIF89a")
    response = client.get(path)
    assert response.status_code == 200
    assert_under(emitted_urls(response.text), prefix)


def test_index_pages_through_older_posts(client, add_post, prefix):
    from subsite.frontend import PAGE_SIZE

    ids = [add_post(f"Notice {n}", "body") for n in range(PAGE_SIZE + 3)]
    first = client.get("/")
    assert f"Notice {PAGE_SIZE + 2}<" in first.text and "Notice 2<" not in first.text
    older = [url for tag, attribute, url in emitted_urls(first.text) if "before=" in url]
    assert older == [f"{prefix}/?before={ids[3]}"]
    second = client.get(f"/?before={ids[3]}")
    assert [f"Notice {n}<" in second.text for n in range(4)] == [True, True, True, False]
    assert "before=" not in second.text


def test_post_page(client, add_post, prefix):
    post_id = add_post("Meeting", "Line one\nLine two", image=b"GIF89a")
    response = client.get(f"/posts/{post_id}")
    assert response.status_code == 200
    assert "<h1>Meeting</h1>" in response.text
    assert "Line one\nLine two" in response.text
    image = [url for tag, _, url in emitted_urls(response.text) if tag == "img"]
    assert len(image) == 1 and image[0].startswith(f"{prefix}/uploads/")
    assert client.get(client.under_prefix(image[0])).data == b"GIF89a"


def test_missing_post_is_404(client):
    assert client.get("/posts/99").status_code == 404


HUGE = "9" * 20  # more than SQLite's 64-bit INTEGER holds


@pytest.mark.parametrize("path", [f"/posts/{HUGE}", f"/api/posts/{HUGE}", "/posts/9223372036854775808",
                                  "/posts/-1", "/posts/1.5", "/posts/%EF%BC%91", "/posts/\u0661"])
def test_an_id_out_of_range_is_404(client, path):
    assert client.get(path).status_code == 404


def test_the_largest_id_is_looked_up(client):
    assert client.get("/posts/9223372036854775807").status_code == 404
    assert client.get("/api/posts/9223372036854775807").json == {"error": "there is no post 9223372036854775807"}


@pytest.mark.parametrize("before", [HUGE, "9223372036854775808", "-1", "1e3", " 5", "+5", "5_0", "\u0661", "", "x"])
def test_a_before_out_of_range_is_ignored(client, add_post, before):
    add_post("Listed", "body")
    response = client.get("/", query_string={"before": before})
    assert response.status_code == 200 and "Listed" in response.text


def test_dir_lists_titles(client, add_post, prefix):
    post_id = add_post("Only title shown", "secret body text")
    response = client.get("/dir/")
    assert "Only title shown" in response.text
    assert "secret body text" not in response.text
    assert ("a", "href", f"{prefix}/posts/{post_id}") in emitted_urls(response.text)


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_dir_without_slash_redirects_under_prefix(client, prefix, method):
    response = client.open("/dir", method=method)
    assert response.status_code in (301, 308)
    assert response.location == f"{prefix}/dir/"
    followed = client.open("/dir", method=method, follow_redirects=True)
    assert followed.status_code == 200
    assert followed.request.path == "/dir/"


def test_dir_redirect_keeps_query(client, prefix):
    response = client.get("/dir?sort=title")
    assert response.location == f"{prefix}/dir/?sort=title"


@pytest.mark.parametrize("path_info", ["//dir", "/dir//", "//dir//"])
def test_merged_slashes_redirect_stays_local(client, prefix, path_info):
    # uWSGI passes PATH_INFO as sent; a leading "//" must not become "//host".
    response = client.get("/", environ_overrides={"PATH_INFO": path_info}, headers={"Host": "evil.test"})
    assert response.status_code in (301, 308)
    assert response.location == f"{prefix}/dir/"


def test_redirect_never_carries_a_forged_host(client, prefix):
    response = client.get("/dir", headers={"Host": "evil.test"})
    assert response.location == f"{prefix}/dir/"
    assert "evil.test" not in response.text


def test_api_posts(client, add_post, prefix):
    with_image = add_post("A", "Body A", image=b"\xff\xd8\xff")
    plain = add_post("B", "Body B")
    response = client.get("/api/posts")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert "Link" not in response.headers
    posts = response.json
    assert [post["id"] for post in posts] == [plain, with_image]
    assert set(posts[0]) == {"id", "title", "body", "created", "image", "url"}
    assert posts[0]["image"] is None
    assert posts[0]["url"] == f"{prefix}/posts/{plain}"
    assert posts[1]["image"].startswith(f"{prefix}/uploads/")
    assert posts[1]["title"] == "A" and posts[1]["body"] == "Body A"


def test_api_post(client, add_post, prefix):
    post_id = add_post("One", "Body")
    data = client.get(f"/api/posts/{post_id}").json
    assert data["id"] == post_id
    assert data["url"] == f"{prefix}/posts/{post_id}"
    assert client.get(client.under_prefix(data["url"])).status_code == 200


def test_api_post_missing(client):
    response = client.get("/api/posts/42")
    assert response.status_code == 404
    assert "error" in response.json


@pytest.mark.parametrize("path", ["/", "/dir/", "/_health", "/api/posts", "/static/style.css"])
def test_head(client, path):
    response = client.head(path)
    assert response.status_code == 200
    assert response.data == b""


def test_the_front_page_leaves_marking_new_posts_to_the_browser(client, add_post, prefix):
    from subsite.frontend import PAGE_SIZE

    ids = [add_post(f"Notice {n}", "body") for n in range(PAGE_SIZE + 1)]
    first = client.get("/").text
    # static/seen.js marks them, from what this browser saw (localStorage, per board).
    assert ("script", "src", f"{prefix}/static/seen.js") in emitted_urls(first)
    assert f'data-board="{prefix}/" data-newest="{ids[-1]}"' in first
    assert f'<article class="summary" data-id="{ids[-1]}">' in first and "badge" not in first
    # A later page is marked too, but records nothing.
    later = client.get(f"/?before={ids[1]}").text
    assert f'data-board="{prefix}/">' in later and "data-newest" not in later
    assert f'data-id="{ids[0]}"' in later
    assert client.get("/static/seen.js").status_code == 200


def test_an_empty_board_records_nothing_newer_than_zero(client, prefix):
    assert f'data-board="{prefix}/" data-newest="0"' in client.get("/").text


@pytest.mark.parametrize("path", ["/", "/?before=5", "/posts/1", "/dir/", "/dir/?before=5", "/api/posts",
                                  "/api/posts?before=5", "/api/posts/1"])
def test_public_pages_set_no_cookie_and_read_none(client, add_post, path):
    add_post("Hello", "A notice.")
    first = client.get(path)
    assert first.status_code == 200 and "Set-Cookie" not in first.headers
    assert "Cookie" not in first.headers.get("Vary", "")
    # A cookie left by release 1.x's front page changes nothing.
    client.set_cookie("subsite_front", "eyJzZWVuIjoxfQ.x.y", path=client.prefix or "/")
    again = client.get(path)
    assert again.data == first.data and "Set-Cookie" not in again.headers


@pytest.mark.parametrize(("path", "size_name", "link"), [
    ("/dir/", "DIRECTORY_PAGE_SIZE", "Older titles"),
    ("/", "PAGE_SIZE", "Older notices"),
])
def test_pages_of_titles_and_notices_are_bounded(client, add_post, path, size_name, link, monkeypatch):
    from subsite import frontend as module

    monkeypatch.setattr(module, size_name, 3)
    ids = [add_post(f"Title {n}", "body") for n in range(7)]
    pages, url = [], path
    while url:
        page = client.get(url).text
        pages.append(list(dict.fromkeys(int(n) for n in re.findall(r'/posts/(\d+)"', page))))
        older = [u for tag, _, u in emitted_urls(page) if "before=" in u]
        assert len(older) <= 1 and (link in page) == bool(older)
        url = client.under_prefix(older[0]) if older else None
    assert pages == [ids[6:3:-1], ids[3:0:-1], ids[:1]]


def test_api_posts_comes_in_pages_linked_by_rel_next(client, add_post, prefix, monkeypatch):
    from subsite import frontend as module

    monkeypatch.setattr(module, "API_PAGE_SIZE", 2)
    ids = [add_post(f"Post {n}", "body") for n in range(5)]
    pages, url = [], "/api/posts"
    while url:
        answer = client.get(url)
        assert isinstance(answer.json, list) and len(answer.json) <= 2
        pages.append([post["id"] for post in answer.json])
        link = answer.headers.get("Link")
        url = None
        if link:
            target = re.fullmatch(r'<([^>]*)>; rel="next"', link)[1]
            assert target.startswith(f"{prefix}/api/posts?before=")
            url = client.under_prefix(target)
    assert pages == [ids[4:2:-1], ids[2:0:-1], ids[:1]]


def test_api_page_size_is_bounded():
    from subsite.frontend import API_PAGE_SIZE, DIRECTORY_PAGE_SIZE, PAGE_SIZE

    assert 0 < PAGE_SIZE <= API_PAGE_SIZE <= 100 and DIRECTORY_PAGE_SIZE <= 1000


def test_the_front_page_shows_a_write_by_another_process_at_once(client, add_post, config):
    # The summaries are kept (frontend.summaries), but under the row just read:
    # a change made through any other connection shows on the very next request.
    post_id = add_post("Before", "The old body.", image=b"GIF89a")
    assert "Before" in client.get("/").text
    other = sqlite3.connect(config["DATABASE"])
    with other:
        other.execute("UPDATE posts SET title = 'After', body = 'The new body.', image = NULL WHERE id = ?",
                      (post_id,))
    page = client.get("/").text
    assert "After" in page and "The new body." in page
    assert "Before" not in page and "old body" not in page and "thumb" not in page
    with other:
        other.execute("DELETE FROM posts WHERE id = ?", (post_id,))
    other.close()
    assert "After" not in client.get("/").text


def test_kept_summaries_are_those_of_their_script_root(app, add_post):
    post_id = add_post("Hello", "A notice.", image=b"GIF89a")
    for prefix in ("", "/subsite", "/a-b"):
        urls = emitted_urls(MountedClient(app, prefix).get("/").text)
        assert ("a", "href", f"{prefix}/posts/{post_id}") in urls
        assert_under(urls, prefix)


def test_the_front_page_is_the_same_whether_its_summaries_are_kept_or_not(client, add_post):
    from subsite.frontend import forget_summaries

    for n in range(5):
        add_post(f"Notice {n}", f"Body {n} " * 40, image=b"GIF89a" if n % 2 else None)
    forget_summaries()
    rendered = client.get("/").data
    assert client.get("/").data == rendered


def test_kept_summaries_are_bounded(client, add_post, monkeypatch):
    from subsite import frontend as module

    monkeypatch.setattr(module, "SUMMARIES_KEPT", 3)
    module.forget_summaries()
    for n in range(5):
        add_post(f"Notice {n}", "body")
        page = client.get("/").text
        assert all(f"Notice {m}<" in page for m in range(n + 1))
        assert len(module._summaries) <= 3
    # A long post is rendered every time, not kept.
    module.forget_summaries()
    add_post("Long", "x" * module.ROW_KEPT_MAX)
    assert "Long" in client.get("/").text
    assert not any("Long" in html for html in module._summaries.values())
