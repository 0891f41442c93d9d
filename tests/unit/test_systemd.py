"""Under systemd: the app's units, not Debian's init script, and only this app's.

systemctl, deb-systemd-invoke and the init script are recorded, not run: the
install tests (tests/install, on a root booting systemd) run them for real.
"""

import subprocess

import pytest

from subsite import layout, services
from subsite.cli import disable, reload, setup


@pytest.fixture
def ran(monkeypatch, tmp_path):
    """A machine booting systemd; commands are recorded; ``ran.active`` says what systemctl finds."""
    class Ran(list):
        active = True
        enabled = False

        def commands(self):
            return [" ".join(command) for command in self]

    record = Ran()

    def run(command, env=None, **kwargs):
        record.append(command)
        out, code = "", 0
        if command[:2] == ["systemctl", "show"]:
            out = "4242" if record.active else "0"
        elif command[:2] == ["systemctl", "is-enabled"]:
            code = 0 if record.enabled else 1
        elif "--query" in command:
            code = 104
        return subprocess.CompletedProcess(command, code, out, "")

    monkeypatch.setattr(services, "systemd_running", lambda: True)
    monkeypatch.setattr(services.subprocess, "run", run)
    monkeypatch.setattr(layout, "UWSGI_APP_LINK", tmp_path / "apps-enabled" / "subsite.ini")
    monkeypatch.setattr(layout, "UWSGI_PIDFILE", tmp_path / "run" / "pid")
    return record


def test_every_action_goes_through_systemd_for_this_app_alone(ran):
    services.restart_app()
    services.reload_app()
    services.app("stop")
    assert ran.commands() == [
        "systemctl reset-failed subsite.socket subsite.service",     # a start limit hit before must not block
        "deb-systemd-invoke restart subsite.service",
        "deb-systemd-invoke reload subsite.service",
        "deb-systemd-invoke stop subsite.socket subsite.service",   # or the socket starts it again
    ]
    assert not [c for c in ran.commands() if "uwsgi.service" in c or "init.d" in c or "invoke-rc.d" in c]


def test_the_master_is_the_units_main_process(ran):
    assert services.uwsgi_master_pid() == 4242
    ran.active = False
    assert services.uwsgi_master_pid() is None


def test_without_systemd_the_init_script_runs_for_this_app_alone(ran, monkeypatch):
    monkeypatch.setattr(services, "systemd_running", lambda: False)
    services.reload_app()
    assert ran.commands()[-1] == "/etc/init.d/uwsgi reload subsite"


def test_enabling_under_systemd_enables_the_units_and_the_site_on_first_install(ran, monkeypatch):
    enabled = []
    monkeypatch.setattr(setup, "enable_nginx_site", lambda: enabled.append("site") or True)
    assert setup.enable_app() is True
    assert "systemctl enable --quiet subsite.socket subsite.service" in ran.commands()
    assert "systemctl daemon-reload" in ran.commands()
    assert enabled == ["site"]
    assert not layout.UWSGI_APP_LINK.exists(), "no apps-enabled link: the init script would start it twice"


def test_an_upgrade_under_systemd_leaves_a_site_the_admin_disabled(ran, monkeypatch):
    ran.enabled = True
    monkeypatch.setattr(setup, "enable_nginx_site", lambda: pytest.fail("the site was enabled again"))
    assert setup.enable_app() is False


def test_release_1_0_0_on_systemd_is_taken_over_without_enabling_the_site_again(ran, monkeypatch):
    layout.UWSGI_APP_LINK.parent.mkdir()
    layout.UWSGI_APP_LINK.symlink_to("../apps-available/subsite.ini")
    monkeypatch.setattr(setup, "enable_nginx_site", lambda: pytest.fail("the site was enabled again"))
    assert setup.enable_app() is False
    retired = []
    monkeypatch.setattr(services, "init_script_master_pid", lambda: 777)
    monkeypatch.setattr(services, "retire_init_script_master", lambda pid: retired.append(pid))
    monkeypatch.setattr(setup.uwsgi_config, "take_back_run_dir", lambda keep: retired.append(f"keep={keep}"))
    ran.clear()
    setup.start_app(None, ("/board", "unix:/run/uwsgi/app/subsite/socket"))
    assert not layout.UWSGI_APP_LINK.is_symlink()
    # The run directory becomes root's, systemd's socket takes the path, then the old master ends.
    assert retired == ["keep=True", 777]
    assert "deb-systemd-invoke start subsite.service" in ran.commands()


def test_setup_reloads_when_the_prefix_and_socket_stay(ran):
    from subsite.settings import Settings

    values = Settings(prefix="/board")
    setup.start_app(values, ("/board", values.upstream))
    assert ran.commands()[-1] == "deb-systemd-invoke reload subsite.service"
    setup.start_app(values, ("/old", values.upstream))
    assert ran.commands()[-1] == "deb-systemd-invoke restart subsite.service"


def test_disable_stops_and_disables_both_units(ran, monkeypatch):
    monkeypatch.setattr(disable.nginx, "test_config", lambda: None)
    monkeypatch.setattr(disable.nginx, "reload", lambda: None)
    monkeypatch.setattr(layout, "NGINX_SITE_LINK", layout.UWSGI_APP_LINK.parent / "site")
    cache_parts = []
    for name in ("NGINX_CACHE_HTTP_FILE", "NGINX_CACHE_LOCATION_FILE"):
        monkeypatch.setattr(layout, name, layout.UWSGI_APP_LINK.parent / name.lower())
        cache_parts.append(getattr(layout, name))
    layout.UWSGI_APP_LINK.parent.mkdir(parents=True)
    for path in cache_parts:
        path.write_text("uwsgi_cache subsite;\n")
    disable.run(None)
    assert ran.commands() == ["deb-systemd-invoke stop subsite.socket subsite.service",
                              "systemctl disable --quiet subsite.socket subsite.service"]
    # nginx keeps no cache zone for an app that was removed.
    assert not [path for path in cache_parts if path.exists()]


def test_reload_command_reloads_this_app_alone(ran, capsys):
    assert reload.run(None) == 0
    assert ran.commands()[-1] == "deb-systemd-invoke reload subsite.service"
    ran.active = False
    assert reload.run(None) == 0
    assert "not running" in capsys.readouterr().out
