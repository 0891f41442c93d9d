import subprocess
import sys

import pytest

from subsite import layout
from subsite.cli import main
from subsite.cli.debconf import choose


@pytest.mark.parametrize(
    ("current", "synced", "in_file", "expected"),
    [
        ("/subsite", None, None, "/subsite"),           # first install: the debconf answer
        ("/subsite", "/subsite", "/hand", "/hand"),     # a hand edit is read back
        ("/preseed", "/subsite", "/subsite", "/preseed"),  # a preseed for dpkg-reconfigure wins
        ("/preseed", "/subsite", "/hand", "/preseed"),  # both changed: debconf was changed on purpose
        ("/subsite", "/subsite", None, "/subsite"),     # unreadable file: keep debconf
    ],
)
def test_debconf_choice(current, synced, in_file, expected):
    assert choose(current, synced, in_file) == expected


def test_help_lists_the_admin_commands(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    for command in ("prefix", "check", "password", "backup", "restore"):
        assert command in out


def test_refused_prefix_exits_1_and_changes_nothing(tmp_path, monkeypatch, capsys):
    settings_file = tmp_path / "subsite.ini"
    settings_file.write_text("[subsite]\nprefix = /subsite\n")
    monkeypatch.setattr(layout, "SETTINGS_FILE", settings_file)
    assert main(["prefix", "/a b"]) == 1
    assert "refused: it contains a space. Nothing was changed." in capsys.readouterr().err
    assert settings_file.read_text() == "[subsite]\nprefix = /subsite\n"


def test_unexpected_failure_exits_3_with_the_traceback(monkeypatch, capsys):
    from subsite.cli import check

    def broken(args):
        raise RuntimeError("boom")

    monkeypatch.setattr(check, "run", broken)
    assert main(["check"]) == 3
    err = capsys.readouterr().err
    assert "Traceback" in err and "RuntimeError: boom" in err
    assert err.endswith("subsite: unexpected failure: boom; please report it with the traceback above\n")


def test_prefix_move_without_a_settings_file_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(layout, "SETTINGS_FILE", tmp_path / "subsite.ini")
    assert main(["prefix", "/new"]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'subsite.ini'}: the file is missing; run 'dpkg-reconfigure subsite'" in err
    assert "Traceback" not in err and not (tmp_path / "subsite.ini").exists()


def test_uwsgi_config_refuses_a_bad_prefix(tmp_path, monkeypatch, capsys):
    from subsite.cli import uwsgi_config

    settings_file = tmp_path / "subsite.ini"
    settings_file.write_text("[subsite]\nprefix = /a;b\n")
    monkeypatch.setattr(layout, "SETTINGS_FILE", settings_file)
    monkeypatch.setattr(layout, "UWSGI_LOG", tmp_path / "subsite.log")
    monkeypatch.setattr(uwsgi_config.os, "geteuid", lambda: 0)
    monkeypatch.setattr(uwsgi_config, "caller_stderr", lambda: None)
    assert main(["uwsgi-config"]) == 1
    captured = capsys.readouterr()
    assert captured.out == uwsgi_config.ABORT
    assert f"{settings_file}:2: prefix = '/a;b' is refused" in captured.err
    assert "refused" in (tmp_path / "subsite.log").read_text()


def test_uwsgi_config_on_reload_keeps_the_prefix_in_force(tmp_path, monkeypatch, capsys):
    from subsite import nginx
    from subsite.cli import uwsgi_config
    from subsite.settings import Settings

    settings_file = tmp_path / "subsite.ini"
    settings_file.write_text("[subsite]\nprefix = /new\n")
    locations = tmp_path / "locations.conf"
    locations.write_text(nginx.render(Settings(prefix="/old")))
    monkeypatch.setattr(layout, "SETTINGS_FILE", settings_file)
    monkeypatch.setattr(layout, "NGINX_LOCATIONS_FILE", locations)
    monkeypatch.setattr(layout, "UWSGI_LOG", tmp_path / "subsite.log")
    monkeypatch.setattr(uwsgi_config.os, "geteuid", lambda: 33)
    monkeypatch.setattr(uwsgi_config, "caller_stderr", lambda: None)
    assert main(["uwsgi-config"]) == 0
    assert capsys.readouterr().out == uwsgi_config.MOUNT.format(prefix="/old")


def test_uwsgi_config_binds_the_socket_nginx_is_told(tmp_path, monkeypatch, capsys):
    from subsite import nginx
    from subsite.cli import uwsgi_config

    settings_file = tmp_path / "subsite.ini"
    monkeypatch.setattr(layout, "SETTINGS_FILE", settings_file)
    monkeypatch.setattr(layout, "NGINX_LOCATIONS_FILE", tmp_path / "locations.conf")
    monkeypatch.setattr(layout, "NGINX_UPSTREAM_FILE", tmp_path / "upstream.conf")
    monkeypatch.setattr(nginx, "test_config", lambda: None)
    monkeypatch.setattr(nginx, "reload", lambda: None)
    monkeypatch.setattr(uwsgi_config.os, "geteuid", lambda: 0)
    settings_file.write_text("[subsite]\nprefix = /p\n")
    assert main(["uwsgi-config"]) == 0
    assert "socket" not in capsys.readouterr().out      # Debian's default.ini binds the default one
    settings_file.write_text("[subsite]\nprefix = /p\nsocket = 127.0.0.1:3031\n")
    assert main(["uwsgi-config"]) == 0
    assert capsys.readouterr().out.endswith("\nsocket = 127.0.0.1:3031\n")
    assert "127.0.0.1:3031" in (tmp_path / "upstream.conf").read_text()


def test_check_skips_do_not_fail_but_show_in_the_verdict(capsys):
    from subsite.cli.check import Checklist

    checks = Checklist()
    checks.item("one", None)
    assert checks.verdict() == "Verdict: all checks passed."
    checks.skip("nginx site", "disabled")
    assert checks.failed == 0 and checks.verdict() == "Verdict: no check failed; some were skipped."
    checks.item("two", "broken", "mend it")
    assert checks.verdict() == "Verdict: 1 check(s) failed."
    assert capsys.readouterr().out.splitlines() == [
        "[ OK ] one", "[SKIP] nginx site: disabled", "[FAIL] two: broken", "       Try fixing it: mend it"]


CALLER = "from subsite.cli.uwsgi_config import caller_stderr as c; f = c(); f and f.write('seen by the caller')"
# The middle process stands for Debian's init script: its stderr is the admin's,
# the child's (uWSGI's, and so the exec'd command's) is /dev/null or the same.
MIDDLE = "import subprocess, sys; subprocess.run([sys.executable, '-c', sys.argv[1]], stderr={})"


@pytest.mark.parametrize(("child_stderr", "expected"), [("subprocess.DEVNULL", "seen by the caller"),
                                                        ("None", "")])
def test_caller_stderr_reaches_past_a_silenced_parent(tmp_path, child_stderr, expected):
    err = tmp_path / "caller-stderr"
    with open(err, "w") as caller:
        subprocess.run([sys.executable, "-c", MIDDLE.format(child_stderr), CALLER], stderr=caller, check=True)
    assert err.read_text() == expected


def test_the_admin_command_loads_no_web_framework():
    """`subsite uwsgi-config` runs twice at every start of the app: Flask and its
    kin would add about 0.15 s each time (measured: cold start, BENCHMARKS.md)."""
    code = "import sys, subsite.cli; print(' '.join(sorted({m.partition('.')[0] for m in sys.modules})))"
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split())
    assert not loaded & {"flask", "werkzeug", "jinja2", "click", "markupsafe", "itsdangerous"}
