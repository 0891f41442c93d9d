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


@pytest.mark.parametrize("path", [layout.ETC_DIR, layout.STATE_DIR, layout.UWSGI_LOG,
                                  layout.UWSGI_APP_LINK, layout.NGINX_SITE_LINK])
def test_purge_removes(path):
    assert re.search(rf"^\s*rm -[rf]+ .*{re.escape(str(path))}(\s|$)", shipped("debian/postrm"), re.M)
