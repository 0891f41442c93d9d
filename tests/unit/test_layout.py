"""The files that cannot import subsite.layout name the same paths it holds."""

import re
from pathlib import Path

import pytest

from subsite import layout

TOP = Path(__file__).resolve().parents[2]
VENV = Path("/opt/venvs") / layout.NAME
COMMAND = Path("/usr/sbin") / layout.NAME


def shipped(name):
    return (TOP / name).read_text()


def test_snippet_includes_the_generated_locations():
    assert f"include {layout.NGINX_LOCATIONS_FILE};" in shipped("nginx/snippets/subsite.conf")


def test_site_includes_the_snippet():
    assert f"include snippets/{layout.NGINX_SNIPPET.name};" in shipped("nginx/sites-available/subsite")


def test_uwsgi_app_runs_the_venv_and_the_command():
    ini = shipped("uwsgi/apps-available/subsite.ini")
    assert f"\nvirtualenv = {VENV}\n" in ini
    assert f"\nini = exec://{COMMAND} uwsgi-config\n" in ini


def test_install_places_files_where_layout_expects_them():
    placed = {Path("/", target.strip()) / Path(source).name
              for source, target in (line.split() for line in shipped("debian/subsite.install").splitlines())}
    assert {layout.UWSGI_APP_FILE, layout.NGINX_SITE_FILE, layout.NGINX_SNIPPET} <= placed
    assert f"{str(VENV / 'bin' / layout.NAME)[1:]} {str(COMMAND)[1:]}" in shipped("debian/subsite.links")


def test_rules_build_the_venv_where_the_ini_expects_it():
    rules = shipped("debian/rules")
    assert f"DH_VIRTUALENV_INSTALL_ROOT = {VENV.parent}" in rules
    assert re.search(rf"^Package: {layout.NAME}$", shipped("debian/control"), re.M)


@pytest.mark.parametrize("path", [layout.ETC_DIR, layout.STATE_DIR, layout.NGINX_DIR, layout.UWSGI_LOG,
                                  layout.UWSGI_APP_LINK, layout.NGINX_SITE_LINK])
def test_purge_removes(path):
    assert re.search(rf"^\s*rm -[rf]+ .*{re.escape(str(path))}(\s|$)", shipped("debian/postrm"), re.M)


def unit(name):
    """{key: [values]} of a systemd unit the package ships (continuation lines joined)."""
    fields = {}
    for line in shipped(f"debian/{name}").replace("\\\n", " ").splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            fields.setdefault(key.strip(), []).append(value.strip())
    return fields


def test_the_units_are_named_as_layout_says():
    assert {f"{layout.NAME}.socket", f"{layout.NAME}.service"} == set(layout.SYSTEMD_UNITS)
    assert (TOP / "debian" / layout.SYSTEMD_SOCKET).exists() and (TOP / "debian" / layout.SYSTEMD_SERVICE).exists()


def test_the_socket_unit_listens_where_nginx_and_uwsgi_expect():
    socket = unit(layout.SYSTEMD_SOCKET)
    assert socket["ListenStream"] == [str(layout.UWSGI_SOCKET)]
    assert socket["SocketUser"] == socket["SocketGroup"] == [layout.WEB_USER]


def test_the_service_runs_the_app_file_as_www_data_after_the_root_step():
    service = unit(layout.SYSTEMD_SERVICE)
    start = service["ExecStart"][0].split()
    assert start[:3] == ["/usr/bin/uwsgi", "--ini", str(layout.UWSGI_APP_FILE)]
    assert start[start.index("--socket") + 1] == str(layout.UWSGI_SOCKET)     # found again after a reload
    assert f"file:{layout.UWSGI_LOG}" in start
    assert service["ExecStartPre"] == [f"+{COMMAND} uwsgi-config --apply"]
    assert service["User"] == service["Group"] == [layout.WEB_USER]
    assert service["Requires"] == [layout.SYSTEMD_SOCKET]
    # service uwsgi restart/reload reach it, and wait for it.
    assert service["PartOf"] == service["ReloadPropagatedFrom"] == service["Before"] == ["uwsgi.service"]
