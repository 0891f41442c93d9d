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
    assert upstream.read_text() == nginx.render_upstream(Settings())
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
