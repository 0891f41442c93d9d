"""Several app hosts behind HAProxy (cluster.py): the balancer's example configuration,
routing around a host whose app was killed, and the rolling upgrade (scripts/roll).

One cluster for the module, on bookworm without systemd: a balancer and two app
hosts in one network namespace. Load goes through the balancer, as the public's.
"""

import pytest

import cluster
import soak
from conftest import require_namespaces, suite_debs

HEALTH = f"{cluster.PREFIX}/_health"
PUBLIC = {"Host": cluster.PUBLIC_NAME}
# Reads through the balancer, as the public sends them.
READS = {"mode": "load", "prefix": cluster.PREFIX, "host": cluster.BALANCER,
         "host_header": cluster.PUBLIC_NAME, "connections": 8}
KILL_UWSGI = ('for p in /proc/[0-9]*; do [ "$(cat $p/comm 2>/dev/null)" = uwsgi ] '
              '&& kill -9 "${p#/proc/}"; done; true')


@pytest.fixture(scope="module")
def hosts():
    require_namespaces()
    with cluster.Cluster(suite_debs("bookworm")) as c:
        for name in cluster.APP_HOSTS:
            c.app_host(name)
        c.balancer()
        c.wait_states({name: "UP" for name in cluster.APP_HOSTS})
        yield c


def load_through_balancer(c, **spec):
    """Start loadgen in the cluster's network (it runs on the host, in the balancer's namespace)."""
    return soak.Site(c.hosts["balancer"], prefix=cluster.PREFIX).start(**{**READS, **spec})


def finish(c, proc):
    return soak.Site(c.hosts["balancer"], prefix=cluster.PREFIX).finish(proc)


def test_the_balancer_sends_requests_to_every_host(hosts):
    lb = hosts.hosts["balancer"]
    for _ in range(4):
        answer = lb.http("GET", f"http://{cluster.BALANCER}{HEALTH}", headers=PUBLIC)
        assert answer.status == 200, answer
    counts = {name: int(row["stot"]) for name, row in hosts.balancer_socket().stats().items()}
    assert all(counts[name] >= 2 for name in cluster.APP_HOSTS), counts
    page = lb.http("GET", f"http://{cluster.BALANCER}{cluster.PREFIX}/", headers=PUBLIC)
    assert page.status == 200 and f'href="{cluster.PREFIX}/static/' in page.text


def test_a_host_whose_app_was_killed_is_routed_around_and_comes_back(hosts):
    app1 = hosts.hosts["app1"]
    load = load_through_balancer(hosts, duration=8)
    app1.run("sleep 2; " + KILL_UWSGI)
    hosts.wait_states({"app1": "DOWN"}, timeout=10)
    result = finish(hosts, load)
    # GETs that reached app1's nginx as its app died are sent to app2 (retry-on 502).
    assert soak.failed(result) <= READS["connections"], soak.load_figures(result)
    assert result["requests"] > 100, soak.load_figures(result)
    app1.run("service uwsgi start")
    hosts.wait_states({"app1": "UP"}, timeout=15)


def test_rolling_upgrade_fails_no_request(hosts):
    socket = hosts.balancer_socket()
    runs = {name: (lambda command, m=hosts.hosts[name]: m.run(command, timeout=600).stdout)
            for name in cluster.APP_HOSTS}
    load = load_through_balancer(hosts, duration=3600)
    try:
        steps = []
        # The same version again (the only one here): the package's upgrade path
        # (prerm, postinst: nginx reload, app restart) with the host drained.
        cluster.rolling.roll(socket, runs, upgrade="apt-get install -q -y --reinstall subsite", log=steps.append)
    finally:
        load.terminate()
        result = finish(hosts, load)
    assert steps == [f"{name}: {what}" for name in cluster.APP_HOSTS
                     for what in ("draining", "upgrading", "upgraded, back in rotation")]
    assert soak.failed(result) == 0, soak.load_figures(result)
    assert result["requests"] > 100, soak.load_figures(result)
