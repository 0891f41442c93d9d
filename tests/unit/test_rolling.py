"""scripts/roll (rolling.py): one host at a time, drained, upgraded and back before the next."""

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import rolling  # noqa: E402

HEADER = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status"


class FakeHAProxy:
    """HAProxy's admin socket as `echo CMD | socat` sees it: server states and current requests."""

    def __init__(self, servers):
        self.state = {name: "UP" for name in servers}
        self.busy = {name: 2 for name in servers}       # requests in flight, finishing once drained
        self.log = []

    def run(self, command):
        line = command.split("echo ", 1)[1].split(" | socat", 1)[0].strip("'")
        self.log.append(line)
        if line == "show stat":
            rows = [HEADER, "subsite,FRONTEND,,,0,0,,0,0,0,0,,0,,,,,OPEN"]
            for name, state in self.state.items():
                if state == "DRAIN":
                    self.busy[name] = max(0, self.busy[name] - 1)
                rows.append(f"subsite,{name},0,0,{self.busy[name]},0,,0,0,0,0,0,,0,0,0,0,{state}")
            return "\n".join(rows) + "\n"
        _, _, target, _, state = line.split()
        name = target.split("/")[1]
        self.state[name] = {"drain": "DRAIN", "ready": "UP"}[state]
        return "\n"


def test_hosts_are_upgraded_one_at_a_time_and_only_once_drained():
    haproxy = FakeHAProxy(["app1", "app2"])
    balancer = rolling.Balancer(haproxy.run)
    upgraded = []

    def host(name):
        def run(command):
            assert haproxy.state[name] == "DRAIN" and haproxy.busy[name] == 0, "upgraded while serving"
            assert all(state == "UP" for other, state in haproxy.state.items() if other != name)
            upgraded.append((name, command))
        return run
    said = []
    rolling.roll(balancer, {"app1": host("app1"), "app2": host("app2")}, log=said.append)
    assert [name for name, _ in upgraded] == ["app1", "app2"]
    assert all(command == rolling.UPGRADE for _, command in upgraded)
    assert "subsite migrate" in rolling.UPGRADE and rolling.UPGRADE.index("apt-get install") < \
        rolling.UPGRADE.index("subsite migrate")
    assert haproxy.state == {"app1": "UP", "app2": "UP"}
    assert said[:3] == ["app1: draining", "app1: upgrading", "app1: upgraded, back in rotation"]


def test_a_failed_upgrade_stops_the_roll_with_the_host_drained():
    haproxy = FakeHAProxy(["app1", "app2"])

    def broken(command):
        raise subprocess.CalledProcessError(100, command, stderr="E: Unable to locate package subsite")
    with pytest.raises(rolling.RollError, match="app1: the upgrade failed .exit 100.; it stays drained"):
        rolling.roll(rolling.Balancer(haproxy.run), {"app1": broken, "app2": lambda c: pytest.fail("went on")},
                     log=lambda s: None)
    assert haproxy.state == {"app1": "DRAIN", "app2": "UP"}


def test_an_unknown_server_name_is_said():
    haproxy = FakeHAProxy(["app1"])
    with pytest.raises(rolling.RollError, match="HAProxy has no server subsite/web9"):
        rolling.roll(rolling.Balancer(haproxy.run), {"web9": lambda c: None}, log=lambda s: None)


def test_hosts_are_named_server_equals_host():
    args = rolling.parse_args(["--balancer", "lb", "app1=a.example", "app2=b.example"])
    assert args.hosts == {"app1": "a.example", "app2": "b.example"} and args.via == "ssh root@{host}"
    with pytest.raises(SystemExit) as exit:
        rolling.parse_args(["--balancer", "lb", "a.example"])
    assert exit.value.code == 2
