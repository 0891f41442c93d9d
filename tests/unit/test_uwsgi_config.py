"""`subsite uwsgi-config`: the root step of a start, and what uWSGI is told."""

import os
import pwd
import sys

import pytest

from subsite import layout, nginx, services
from subsite.cli import main, uwsgi_config

WEB = pwd.getpwnam(layout.WEB_USER)


@pytest.fixture
def run_dir(tmp_path, monkeypatch):
    """The run directory Debian's init script just made for the app: www-data's."""
    path = tmp_path / "run" / "subsite"
    path.mkdir(parents=True)
    monkeypatch.setattr(layout, "UWSGI_RUN_DIR", path)
    return path


@pytest.mark.skipif(os.geteuid() != 0, reason="changes owners: needs root")
def test_the_run_directory_becomes_roots_and_empty_before_root_writes_there(run_dir, tmp_path):
    victim = tmp_path / "shadow"
    victim.write_text("root's secret\n")
    victim.chmod(0o600)
    os.chown(run_dir, WEB.pw_uid, WEB.pw_gid)
    # What www-data could leave there: a link in place of the pid file, a directory, a file.
    (run_dir / "pid").symlink_to(victim)
    (run_dir / "socket").mkdir()
    (run_dir / "socket" / "x").write_text("")
    (run_dir / "other").write_text("")
    uwsgi_config.take_back_run_dir()
    info = os.lstat(run_dir)
    # root's; group www-data and set-group-ID, so a socket made there is nginx's to reach at once.
    assert (info.st_uid, info.st_gid, info.st_mode & 0o7777) == (0, WEB.pw_gid, 0o2755)
    assert list(run_dir.iterdir()) == []
    assert victim.read_text() == "root's secret\n" and victim.stat().st_mode & 0o777 == 0o600


@pytest.mark.skipif(os.geteuid() != 0, reason="changes owners: needs root")
def test_keep_leaves_a_running_instances_files(run_dir):
    os.chown(run_dir, WEB.pw_uid, WEB.pw_gid)
    (run_dir / "pid").write_text("123\n")
    uwsgi_config.take_back_run_dir(keep=True)
    assert os.lstat(run_dir).st_uid == 0 and (run_dir / "pid").exists()


def test_a_link_in_place_of_the_run_directory_is_refused(tmp_path, monkeypatch):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "subsite").symlink_to(tmp_path / "elsewhere")
    monkeypatch.setattr(layout, "UWSGI_RUN_DIR", tmp_path / "subsite")
    with pytest.raises(uwsgi_config.StartRefused, match="should be a directory but is a link"):
        uwsgi_config.take_back_run_dir()


def test_the_run_directory_is_taken_back_only_in_a_start_by_the_init_script(run_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(layout, "SETTINGS_FILE", tmp_path / "subsite.ini")
    layout.SETTINGS_FILE.write_text("[subsite]\nprefix = /board\n")
    monkeypatch.setattr(nginx, "apply", lambda values: nginx.Outcome(False))
    taken = []
    monkeypatch.setattr(uwsgi_config, "take_back_run_dir", lambda: taken.append(True))
    monkeypatch.delenv(uwsgi_config.INIT_SCRIPT_APP, raising=False)
    uwsgi_config.prepare_start()            # `subsite uwsgi-config` by hand: leave a running app's socket alone
    assert taken == []
    monkeypatch.setenv(uwsgi_config.INIT_SCRIPT_APP, layout.NAME)
    uwsgi_config.prepare_start()
    assert taken == [True]


@pytest.mark.skipif(os.geteuid() != 0, reason="changes owners: needs root")
def test_every_start_makes_the_generations_directory_for_the_apps_user(tmp_path, monkeypatch):
    # In memory (/run/subsite): gone at each boot, made again by the start's root step.
    monkeypatch.setattr(layout, "SETTINGS_FILE", tmp_path / "subsite.ini")
    layout.SETTINGS_FILE.write_text("[subsite]\nprefix = /board\n")
    monkeypatch.setattr(nginx, "apply", lambda values: nginx.Outcome(False))
    monkeypatch.delenv(uwsgi_config.INIT_SCRIPT_APP, raising=False)
    uwsgi_config.prepare_start()
    info = os.lstat(layout.GENERATION_DIR)
    assert (info.st_uid, info.st_gid, info.st_mode & 0o7777) == (WEB.pw_uid, WEB.pw_gid, 0o755)
    assert os.path.isdir(layout.GENERATION_DIR) and not os.path.islink(layout.GENERATION_DIR)


def test_a_link_in_place_of_the_generations_directory_refuses_the_start(tmp_path, monkeypatch):
    monkeypatch.setattr(layout, "SETTINGS_FILE", tmp_path / "subsite.ini")
    layout.SETTINGS_FILE.write_text("[subsite]\nprefix = /board\n")
    monkeypatch.delenv(uwsgi_config.INIT_SCRIPT_APP, raising=False)
    (tmp_path / "elsewhere").mkdir()
    layout.GENERATION_DIR.parent.mkdir(parents=True, exist_ok=True)
    layout.GENERATION_DIR.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(uwsgi_config.StartRefused, match="should be a directory but is a link"):
        uwsgi_config.prepare_start()
    # Not followed: what the link points to keeps its owner.
    assert (tmp_path / "elsewhere").stat().st_uid == os.geteuid()


def test_a_venv_for_another_python_than_uwsgis_never_starts(tmp_path, monkeypatch, capsys):
    plugin = tmp_path / "python3_plugin.so"
    other = (sys.version_info[0], sys.version_info[1] + 2)
    plugin.write_bytes(b"\x7fELF..libpython%d.%d.so.1.0\0" % other)
    monkeypatch.setattr(layout, "UWSGI_PYTHON_PLUGIN", plugin)
    monkeypatch.setattr(layout, "UWSGI_LOG", tmp_path / "log")
    monkeypatch.setattr(uwsgi_config, "caller_stderr", lambda: None)
    for argv in (["uwsgi-config"], ["uwsgi-config", "--apply"]):
        assert main(argv) == 1
        captured = capsys.readouterr()
        assert "built for Python %d.%d but uWSGI's python3 plugin embeds Python %d.%d" % (
            *sys.version_info[:2], *other) in captured.err
        assert "apt install subsite" in captured.err
    assert main(["uwsgi-config"]) == 1
    assert capsys.readouterr().out == uwsgi_config.ABORT, "uWSGI exits before it serves"


def test_a_missing_plugin_is_named(tmp_path, monkeypatch):
    with pytest.raises(uwsgi_config.StartRefused, match="apt install uwsgi-plugin-python3"):
        uwsgi_config.check_python(tmp_path / "missing.so")


def test_apply_prints_nothing_for_uwsgi(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(layout, "SETTINGS_FILE", tmp_path / "subsite.ini")
    layout.SETTINGS_FILE.write_text("[subsite]\nprefix = /board\n")
    monkeypatch.setattr(nginx, "apply", lambda values: nginx.Outcome(False))
    monkeypatch.setattr(uwsgi_config.os, "geteuid", lambda: 0)
    assert main(["uwsgi-config", "--apply"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["uwsgi-config"]) == 0
    assert capsys.readouterr().out == "[uwsgi]\nmount = /board=subsite.wsgi:application\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="changes owners: needs root")
def test_under_systemd_the_log_file_is_made_for_www_data_without_following_a_link(tmp_path, monkeypatch):
    monkeypatch.setattr(services, "systemd_running", lambda: True)
    monkeypatch.setattr(layout, "UWSGI_LOG", tmp_path / "subsite.log")
    uwsgi_config.open_log_for_app()
    info = os.lstat(layout.UWSGI_LOG)
    assert (info.st_uid, info.st_mode & 0o777) == (WEB.pw_uid, 0o640)
    layout.UWSGI_LOG.unlink()
    victim = tmp_path / "victim"
    victim.write_text("")
    layout.UWSGI_LOG.symlink_to(victim)
    with pytest.raises(OSError):
        uwsgi_config.open_log_for_app()
    assert os.stat(victim).st_uid == 0
