"""The rolling upgrade from release 1.0.0 to this version behind HAProxy (scripts/roll),
under the public's reads and the admin's writes: no failed request, no lost write.

Release 1.0.0 knows only SQLite, so each of its app hosts keeps its own board;
configuration management gives them one secret key and admin password, so the
admin's session holds on both and writes land on either. The signed repository
first holds 1.0.0, which the hosts install; then this build replaces it there
and the roll upgrades one host at a time, drained at the balancer.
"""

import pytest

import cluster
import soak
from conftest import deb_version, require_namespaces, split, suite_debs

PASSWORD = cluster.PASSWORD


@pytest.fixture(scope="module", params=cluster.MACHINES)
def hosts(request, previous_debs):
    """1.0.0's hosts, booting systemd as servers do (CI), or without (the full run)."""
    require_namespaces()
    suite, init = split(request.param)
    with cluster.Cluster(suite_debs(suite), suite, init) as c:
        c.publish(previous_debs)
        c.shared_app_hosts(PASSWORD, database=False)
        c.balancer()
        c.wait_states({name: "UP" for name in cluster.APP_HOSTS})
        yield c


def installed(host):
    return host.run("dpkg-query -W -f '${Version}' subsite").stdout


def test_rolling_upgrade_from_release_1_0_0_fails_no_request_and_loses_no_write(hosts, previous_debs):
    old, new = deb_version(previous_debs[0]), deb_version(suite_debs("bookworm")[0])
    assert {name: installed(hosts.hosts[name]) for name in cluster.APP_HOSTS} == dict.fromkeys(cluster.APP_HOSTS, old)
    hosts.publish(suite_debs("bookworm"))
    admin = hosts.browser("app1")
    assert admin.login(cluster.PREFIX, PASSWORD).status == 303
    load = hosts.start_load(admin, duration=3600, write_share=0.2, tag="roll-1.0.0")
    try:
        steps = hosts.roll()
    finally:
        result = hosts.finish_load(load, stop=True)
    print(f"rolling upgrade {old} -> {new} ({hosts.init}) under load:", soak.load_figures(result))
    assert steps == [f"{name}: {what}" for name in cluster.APP_HOSTS
                     for what in ("draining", "upgrading", "upgraded, back in rotation")]
    assert {name: installed(hosts.hosts[name]) for name in cluster.APP_HOSTS} == dict.fromkeys(cluster.APP_HOSTS, new)
    assert soak.failed(result) == 0, soak.load_figures(result)
    # 404s only: a post read back by id through the other host, which has its own board.
    assert set(result["codes"]) <= {"200", "303", "404"}, result["codes"]
    assert result["requests"] > 100 and result["created"], soak.load_figures(result)
    # Each host kept its own board: every acknowledged write is on the one that took it.
    listed = [hosts.site(name).posts() for name in cluster.APP_HOSTS]
    lost = [(id_, title) for id_, title in result["created"] if all(board.get(id_) != title for board in listed)]
    assert lost == [], f"acknowledged writes lost: {lost[:5]}"
