import os
import re
from pathlib import Path

import pytest

from subsite import nginx
from subsite.settings import Settings


@pytest.mark.parametrize("prefix", ["", "/subsite", "/a/b"])
def test_render(prefix):
    text = nginx.render(Settings(prefix=prefix))
    assert nginx.MARKER + prefix == text.splitlines()[0]
    locations = re.findall(r"^location (.*?) \{", text, re.MULTILINE)
    expected = [f"^~ {root}/{kind}/" for root in (prefix, prefix + "/admin") for kind in ("static", "uploads")]
    assert locations == ([f"= {prefix}"] if prefix else []) + expected + [f"{prefix}/"]
    # Every alias ends in a slash, like its location: no alias traversal.
    assert all(alias.endswith("/") for alias in re.findall(r"alias (\S+);", text))
    assert "uwsgi_pass subsite_run_uwsgi_app_subsite_socket;" in text
    assert "uwsgi_param HTTP_HOST $host$subsite_host_port;" in text


def test_redirect_is_relative():
    text = nginx.render(Settings(prefix="/p"))
    assert "absolute_redirect off;\n    return 301 /p/$is_args$args;" in text


def test_applied_prefix(tmp_path):
    path = tmp_path / "locations.conf"
    assert nginx.applied_prefix(path) is None
    path.write_text(nginx.render(Settings(prefix="")))
    assert nginx.applied_prefix(path) == ""
    path.write_text(nginx.render(Settings(prefix="/a/b")))
    assert nginx.applied_prefix(path) == "/a/b"


@pytest.mark.parametrize(("before", "after", "outcome"), [
    (None, None, "reloaded"), ("broken elsewhere", "broken elsewhere", "warned"), (None, "ours broke it", "restored"),
])
def test_apply(tmp_path, monkeypatch, before, after, outcome):
    path, upstream = tmp_path / "locations.conf", tmp_path / "upstream.conf"
    path.write_text("old\n")
    monkeypatch.setattr(nginx.layout, "NGINX_UPSTREAM_FILE", upstream)
    results = iter([before, after])
    monkeypatch.setattr(nginx, "test_config", lambda: next(results))
    reloads = []
    monkeypatch.setattr(nginx, "reload", lambda: reloads.append(1))
    if outcome == "restored":
        with pytest.raises(nginx.NginxError, match="ours broke it"):
            nginx.apply(Settings(), path)
        assert path.read_text() == "old\n" and not upstream.exists() and not reloads
        return
    result = nginx.apply(Settings(), path)
    assert result.changed and path.read_text() == nginx.render(Settings())
    assert upstream.read_text() == nginx.render_http(Settings())
    assert upstream.read_text().startswith(nginx.render_upstream(Settings()))
    assert (outcome == "warned") == bool(result.warning) and len(reloads) == (outcome == "reloaded")
    # Unchanged: nothing is tested, written or reloaded.
    assert not nginx.apply(Settings(), path).changed


@pytest.mark.parametrize(("text", "port"), [("listen 80;", 80), ("\tlisten 8080;\n\tlisten 80;", 8080),
                                            ("listen [::]:81;", 81), ("listen 127.0.0.1:82;", 82), ("", 80)])
def test_listen_port(tmp_path, text, port):
    site = tmp_path / "site"
    site.write_text(f"server {{\n{text}\n}}\n")
    assert nginx.listen_port(site) == port


def test_body_limit_is_the_apps():
    from subsite.layout import MAX_UPLOAD_BYTES

    text = nginx.render(Settings())
    assert f"client_max_body_size {MAX_UPLOAD_BYTES // 1024}k;" in text
    assert MAX_UPLOAD_BYTES % 1024 == 0
    assert re.search(r"client_body_timeout \d+s;", text)


def test_uwsgi_read_timeout_outlasts_harakiri():
    shipped = (Path(__file__).resolve().parents[2] / "uwsgi" / "apps-available" / "subsite.ini").read_text()
    harakiri = int(re.search(r"^harakiri = (\d+)$", shipped, re.MULTILINE).group(1))
    timeout = int(re.search(r"uwsgi_read_timeout (\d+)s;", nginx.render(Settings())).group(1))
    assert timeout > harakiri


@pytest.mark.parametrize("socket", ["/run/uwsgi/app/subsite/socket", "10.0.0.5:3031"])
def test_upstream_retries_once_and_names_the_socket(socket):
    settings = Settings(socket=socket)
    upstream = nginx.render_upstream(settings)
    name = nginx.upstream_name(settings)
    assert re.fullmatch(r"[a-z0-9_]+", name, re.I)
    assert re.findall(r"^upstream (\S+) \{", upstream, re.M) == [name]
    assert re.findall(r"^\s*server (\S+) max_fails=0;", upstream, re.M) == [settings.upstream] * 2
    locations = nginx.render(settings)
    assert f"uwsgi_pass {name};" in locations
    assert "uwsgi_next_upstream error;" in locations and "uwsgi_next_upstream_tries 2;" in locations


def test_retry_window_ends_long_before_harakiri():
    shipped = (Path(__file__).resolve().parents[2] / "uwsgi" / "apps-available" / "subsite.ini").read_text()
    harakiri = int(re.search(r"^harakiri = (\d+)$", shipped, re.MULTILINE).group(1))
    window = int(re.search(r"uwsgi_next_upstream_timeout (\d+)s;", nginx.render(Settings())).group(1))
    assert window < harakiri


def test_conf_d_includes_the_generated_upstream_by_its_one_name():
    shipped = (Path(__file__).resolve().parents[2] / "nginx" / "conf.d" / "subsite.conf").read_text()
    from subsite import layout
    # A pattern (nginx -t passes before the file exists) that matches nothing else.
    assert f"include {str(layout.NGINX_UPSTREAM_FILE)[:-1]}[f];" in shipped


def test_nginx_is_reloaded_only_when_its_files_changed(tmp_path, monkeypatch):
    import subprocess

    from subsite import layout
    for name in ("NGINX_SITE_FILE", "NGINX_SITE_LINK", "NGINX_SNIPPET", "NGINX_MAP_FILE",
                 "NGINX_UPSTREAM_FILE", "NGINX_LOCATIONS_FILE", "NGINX_LOADED_FILE"):
        monkeypatch.setattr(layout, name, tmp_path / name.lower())
    layout.NGINX_SITE_FILE.write_text("server {}\n")
    reloads = []
    monkeypatch.setattr(nginx, "running", lambda: True)
    monkeypatch.setattr(nginx.subprocess, "run",
                        lambda cmd, **kw: reloads.append(cmd) or subprocess.CompletedProcess(cmd, 0, "", ""))
    assert nginx.reload_if_changed() is None and len(reloads) == 1
    assert nginx.reload_if_changed() is None and len(reloads) == 1, "nothing changed: no reload"
    layout.NGINX_SITE_FILE.write_text("server { listen 8080; }\n")
    nginx.reload_if_changed()
    assert reloads == [["invoke-rc.d", "nginx", "reload"]] * 2


@pytest.fixture
def generated(tmp_path, monkeypatch):
    """The generated files in a directory of root's, and release 1.0.0's place inside the data."""
    from subsite import layout
    monkeypatch.setattr(layout, "NGINX_DIR", tmp_path / "lib-nginx")
    monkeypatch.setattr(layout, "NGINX_UPSTREAM_FILE", tmp_path / "lib-nginx" / "upstream.conf")
    monkeypatch.setattr(layout, "NGINX_LOCATIONS_FILE", tmp_path / "lib-nginx" / "locations.conf")
    monkeypatch.setattr(layout, "OLD_NGINX_DIR", tmp_path / "lib" / "nginx")
    monkeypatch.setattr(layout, "NGINX_MAP_FILE", tmp_path / "conf.d-subsite.conf")
    monkeypatch.setattr(layout, "NGINX_SNIPPET", tmp_path / "snippet.conf")
    monkeypatch.setattr(nginx, "LEGACY_INCLUDES", {layout.NGINX_MAP_FILE: layout.NGINX_UPSTREAM_FILE,
                                                   layout.NGINX_SNIPPET: layout.NGINX_LOCATIONS_FILE})
    monkeypatch.setattr(nginx, "test_config", lambda: None)
    monkeypatch.setattr(nginx, "reload", lambda: None)
    layout.NGINX_MAP_FILE.write_text(f"include {layout.NGINX_DIR}/upstream.con[f];\n")
    layout.NGINX_SNIPPET.write_text(f"include {layout.NGINX_LOCATIONS_FILE};\n")
    return layout


def test_generated_files_are_roots_alone(generated):
    nginx.apply(Settings(prefix="/board"))
    assert nginx.trust_problem() is None
    assert generated.NGINX_UPSTREAM_FILE.stat().st_mode & 0o777 == 0o644
    assert nginx.applied_prefix() == "/board"
    assert nginx.applied_upstream() == "unix:/run/uwsgi/app/subsite/socket"


@pytest.mark.parametrize("tamper", ["chmod 0666 upstream", "chmod 0777 dir", "link upstream", "chown upstream"])
def test_nginx_never_loads_a_file_another_user_could_have_written(generated, tamper):
    nginx.apply(Settings(prefix="/board"))
    upstream = generated.NGINX_UPSTREAM_FILE
    if tamper == "chmod 0666 upstream":
        upstream.chmod(0o666)
    elif tamper == "chmod 0777 dir":
        generated.NGINX_DIR.chmod(0o777)
    elif tamper == "link upstream":
        upstream.rename(upstream.with_name("real"))
        upstream.symlink_to(upstream.with_name("real"))
    else:
        if os.geteuid() != 0:
            pytest.skip("changes owners: needs root")
        os.chown(upstream, 33, 33)
    problem = nginx.trust_problem()
    assert problem and "so nginx was not reloaded" in problem and "dpkg-reconfigure subsite" in problem
    with pytest.raises(nginx.NginxError, match="nginx was not reloaded"):
        nginx.apply(Settings(prefix="/elsewhere"))


def test_a_conffile_kept_from_1_0_0_still_finds_the_generated_files(generated):
    # The admin edited conf.d/subsite.conf in 1.0.0 and kept it on upgrade: it includes the old place.
    generated.NGINX_MAP_FILE.write_text(f"include {generated.OLD_NGINX_DIR}/upstream*.conf;\n")
    nginx.apply(Settings(prefix="/board"))
    old = generated.OLD_NGINX_DIR / "upstream.conf"
    assert old.read_text() == generated.NGINX_UPSTREAM_FILE.read_text()
    assert not (generated.OLD_NGINX_DIR / "locations.conf").exists()
    assert nginx.legacy_copies() == {old: generated.NGINX_UPSTREAM_FILE}


def test_what_1_0_0_applied_is_read_from_its_place(generated):
    generated.OLD_NGINX_DIR.mkdir(parents=True)
    (generated.OLD_NGINX_DIR / "locations.conf").write_text(nginx.render(Settings(prefix="/old")))
    (generated.OLD_NGINX_DIR / "upstream.conf").write_text(nginx.render_upstream(Settings(socket="127.0.0.1:3031")))
    assert nginx.applied_prefix() == "/old"
    assert nginx.applied_upstream() == "127.0.0.1:3031"


# ---- the page cache (pagecache.py) ------------------------------------------------------------

def cache_location(settings):
    return nginx.render_cache(settings)[nginx.layout.NGINX_CACHE_LOCATION_FILE]


def cache_http(settings):
    return nginx.render_cache(settings)[nginx.layout.NGINX_CACHE_HTTP_FILE]


def key_parts(settings):
    key = re.search(r'^uwsgi_cache_key "(.*)";$', cache_location(settings), re.MULTILINE).group(1)
    return key.split("\\n")


@pytest.mark.parametrize(("trusted", "headers", "forwarded"), [
    (0, ("for", "proto", "host", "port", "prefix"), []),
    (1, ("for", "proto"), ["$http_x_forwarded_proto"]),
    (2, ("for", "proto", "host", "port", "prefix"), ["$http_x_forwarded_proto", "$http_x_forwarded_host",
                                                     "$http_x_forwarded_port", "$http_x_forwarded_prefix"]),
    (1, (), []),
])
def test_the_cache_key_holds_what_the_page_depends_on(trusted, headers, forwarded):
    # Method (a HEAD's empty body is never a GET's), scheme, host and port as
    # the app is told them, the path with its query (the prefix is in it), the
    # forwarded headers the app trusts, and the board's generation last. Not
    # the client's address: no public page shows it (test_pagecache.py).
    settings = Settings(trusted_proxies=trusted, trusted_headers=headers)
    assert key_parts(settings) == ["$request_method", "$scheme", "$host$subsite_host_port", "$request_uri",
                                   *forwarded, "$subsite_generation"]
    assert "uwsgi_param HTTP_HOST $host$subsite_host_port;" in nginx.render(settings)


def test_the_generation_is_the_target_of_the_link_the_app_swaps(tmp_path):
    from subsite import layout, pagecache

    settings = Settings(database=tmp_path / "board.db")
    # The cached locations' root is the link; only the key reads it.
    assert f"root {pagecache.link()};" in cache_location(settings)
    assert pagecache.link() == layout.GENERATION_DIR / "current"
    http = cache_http(settings)
    assert "map $realpath_root $subsite_generation {" in http
    # A link nginx cannot resolve gives the request's own id: no key shared with any other request.
    assert re.findall(r'^    "" (.*);$', http, re.M) == ["$request_id"]
    assert "js_" not in http + cache_location(settings), "no script module"


def test_what_is_never_taken_from_the_cache_nor_kept():
    location = cache_location(Settings())
    # The admin's session, nothing costlier (nginx evaluates these in every nested location).
    for directive in ("uwsgi_cache_bypass", "uwsgi_no_cache"):
        assert re.findall(rf"^{directive} (.*);$", location, re.M) == ["$cookie_subsite_admin"]
    assert "uwsgi_cache_methods GET HEAD;" in location
    # Only Cache-Control is ignored (it is for browsers): a Set-Cookie still keeps a response out.
    assert re.findall(r"uwsgi_ignore_headers (.*);", location) == ["Cache-Control"]
    everything = location + cache_http(Settings()) + nginx.render(Settings())
    assert "use_stale" not in everything and "uwsgi_cache_valid" not in everything, \
        "only what the app marks is kept (X-Accel-Expires), and never served once stale"


@pytest.mark.parametrize("prefix", ["", "/subsite", "/a/b"])
def test_the_admin_the_probe_and_the_test_pages_never_use_the_cache(prefix):
    text = nginx.render(Settings(prefix=prefix))
    app = text[text.index(f"location {prefix}/ {{"):]
    nested = re.findall(r"^    location (.*?) \{\n        uwsgi_cache off;\n        uwsgi_pass (\S+);\n    \}",
                        app, re.MULTILINE)
    assert nested == [(f"^~ {prefix}/admin/", nginx.upstream_name(Settings())),
                      (f"= {prefix}/_health", nginx.upstream_name(Settings())),
                      (f"^~ {prefix}/_test/", nginx.upstream_name(Settings()))]
    # The cache's location part is included by a pattern: without it nginx still passes its test.
    assert f"include {str(nginx.layout.NGINX_CACHE_LOCATION_FILE)[:-1]}[f];" in app
    http = nginx.render_http(Settings())
    assert f"include {str(nginx.layout.NGINX_CACHE_HTTP_FILE)[:-1]}[f];" in http
    # The upstream alone (the benchmark's copies add theirs beside it) defines no cache twice.
    assert "include" not in nginx.render_upstream(Settings())


def test_the_cache_is_bounded():
    http = cache_http(Settings())
    line = re.search(r"^uwsgi_cache_path (\S+) (.*);$", http, re.MULTILINE)
    assert line.group(1) == str(nginx.layout.NGINX_CACHE_DIR) == "/var/cache/subsite-nginx"
    options = dict(option.split("=") for option in line.group(2).split())
    assert options == {"levels": "1:2", "keys_zone": "subsite:8m", "max_size": "128m", "inactive": "10m",
                       "use_temp_path": "off"}
    assert "uwsgi_cache subsite;" in cache_location(Settings())
    # README states the same bounds.
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "128 MiB" in readme and "8 MiB" in readme


def test_page_cache_no_writes_no_cache_part(tmp_path, monkeypatch):
    monkeypatch.setattr(nginx.layout, "NGINX_UPSTREAM_FILE", tmp_path / "upstream.conf")
    monkeypatch.setattr(nginx, "test_config", lambda: None)
    monkeypatch.setattr(nginx, "reload", lambda: None)
    path = tmp_path / "locations.conf"
    assert nginx.apply(Settings(), path).changed
    parts = [tmp_path / "cache.conf", tmp_path / "cache-location.conf"]
    assert all(part.exists() for part in parts)
    assert nginx.apply(Settings(page_cache=False), path).changed
    assert not any(part.exists() for part in parts)
    assert not nginx.apply(Settings(page_cache=False), path).changed
    assert set(nginx.render_cache(Settings(page_cache=False)).values()) == {None}


def test_a_cache_part_nginx_refuses_is_taken_back(tmp_path, monkeypatch):
    monkeypatch.setattr(nginx.layout, "NGINX_UPSTREAM_FILE", tmp_path / "upstream.conf")
    results = iter([None, "unknown directive \"uwsgi_cache_path\""])
    monkeypatch.setattr(nginx, "test_config", lambda: next(results))
    with pytest.raises(nginx.NginxError, match="uwsgi_cache_path"):
        nginx.apply(Settings(), tmp_path / "locations.conf")
    assert list(tmp_path.iterdir()) == []


def test_drop_cache_removes_both_parts(tmp_path, monkeypatch):
    for name in ("NGINX_CACHE_HTTP_FILE", "NGINX_CACHE_LOCATION_FILE"):
        monkeypatch.setattr(nginx.layout, name, tmp_path / name)
        (tmp_path / name).write_text("x")
    nginx.drop_cache()
    nginx.drop_cache()
    assert list(tmp_path.iterdir()) == []


def test_the_cache_parts_must_be_roots_alone(generated):
    nginx.apply(Settings(prefix="/board"))
    for part in (generated.NGINX_CACHE_HTTP_FILE, generated.NGINX_CACHE_LOCATION_FILE):
        assert part in nginx.generated_files()
    generated.NGINX_CACHE_HTTP_FILE.chmod(0o666)
    assert "cache.conf is writable by others" in nginx.trust_problem()


def test_with_postgresql_a_missing_image_is_fetched_by_the_app_then_sent_by_nginx():
    shared = nginx.render(Settings(database="postgresql://subsite@db.example/subsite"))
    uploads = [block for block in shared.split("location ") if "/uploads/ {" in block.split("\n")[0]]
    assert len(uploads) == 2, "the frontend's and the admin's"
    assert all("    error_page 404 = @subsite_upload;\n" in block for block in uploads)
    fetch = shared.split("location @subsite_upload {\n", 1)[1].split("\n}\n", 1)[0]
    assert "    rewrite ^.*/uploads/([^/]*)$ /subsite/_upload/$1 break;" in fetch.splitlines()
    assert f"uwsgi_pass {nginx.upstream_name(Settings())};" in fetch and "uwsgi_param PATH_INFO $document_uri;" in fetch
    assert "uwsgi_cache" not in fetch, "never kept by the page cache"
    # Clients cannot ask for it themselves (the rewrite's break keeps nginx in the named location).
    assert "    location ^~ /subsite/_upload/ {\n        internal;\n    }\n" in shared
    # One host (SQLite): nginx sends its files itself, and nothing else.
    alone = nginx.render(Settings())
    assert "error_page" not in alone and "@subsite_upload" not in alone
