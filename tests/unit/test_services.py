"""How the app's uWSGI instance is started and stopped: it alone, as policy-rc.d allows."""

import subprocess

import pytest

from subsite import services


@pytest.fixture
def commands(monkeypatch):
    """Record the commands run; invoke-rc.d --query answers ``commands.answer``."""
    class Ran(list):
        answer = 104

    ran = Ran()

    def run(command, env=None, **kwargs):
        ran.append((command, env))
        code = ran.answer if "--query" in command else 0
        return subprocess.CompletedProcess(command, code, "", "")

    monkeypatch.setattr(services.subprocess, "run", run)
    return ran


def test_an_app_action_runs_the_init_script_for_that_app_alone(commands):
    # Under systemd, invoke-rc.d would run `systemctl restart uwsgi.service`:
    # every uWSGI app. It only answers the policy question here.
    assert services.restart_app() == (True, "")
    (query, _), (script, env) = commands
    assert query == ["invoke-rc.d", "--quiet", "--query", "uwsgi", "restart"]
    assert script == ["/etc/init.d/uwsgi", "restart", "subsite"]
    assert env["SYSTEMCTL_SKIP_REDIRECT"] == "1"


def test_an_action_policy_rc_d_denies_is_not_run(commands):
    commands.answer = 101
    ok, output = services.reload_app()
    assert ok and "denied" in output
    assert len(commands) == 1


def test_a_query_that_fails_is_reported(commands):
    commands.answer = 102
    ok, output = services.restart_app()
    assert not ok and "answered 102" in output
    assert len(commands) == 1


def test_a_service_without_an_app_goes_through_invoke_rc_d(commands):
    services.invoke("nginx", "reload")
    assert commands == [(["invoke-rc.d", "nginx", "reload"], None)]
