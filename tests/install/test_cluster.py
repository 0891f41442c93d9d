"""Several app hosts behind HAProxy (cluster.py): the balancer's example configuration,
routing around a host whose app was killed, and the rolling upgrade (scripts/roll).

One cluster for the module, its app hosts booting systemd (or not): a balancer, two app
hosts and a PostgreSQL host in one network namespace. Load goes through the
balancer, as the public's.
"""

import re
import time

import pytest

import cluster
import soak
from browser import png_bytes
from conftest import require_namespaces, split, suite_debs

HEALTH = f"{cluster.PREFIX}/_health"
PUBLIC = cluster.PUBLIC
PASSWORD = cluster.PASSWORD
KILL_UWSGI = ('for p in /proc/[0-9]*; do [ "$(cat $p/comm 2>/dev/null)" = uwsgi ] '
              '&& kill -9 "${p#/proc/}"; done; true')


@pytest.fixture(scope="module", params=cluster.MACHINES)
def hosts(request):
    """The cluster, its app hosts booting systemd as servers do (CI), or without (the full run)."""
    require_namespaces()
    suite, init = split(request.param)
    with cluster.started(suite_debs(suite), PASSWORD, suite, init) as c:
        yield c


def test_every_app_host_installed_subsite_from_the_signed_repository(hosts):
    for name in cluster.APP_HOSTS:
        m = hosts.hosts[name]
        policy = m.run("apt-cache policy subsite").stdout
        assert f"{hosts.repository_url}/apt/repo bookworm/main" in policy, policy
        assert "/srv/repo" not in policy and "trusted=yes" not in m.run("cat /etc/apt/sources.list.d/*").stdout
        assert m.run("stat -c '%U %a' /etc/subsite/pgpass").stdout.strip() == "www-data 600"


def test_the_balancer_sends_requests_to_every_host(hosts):
    lb = hosts.hosts["balancer"]
    for _ in range(4):
        answer = lb.http("GET", f"http://{cluster.BALANCER}{HEALTH}", headers=PUBLIC)
        assert answer.status == 200, answer
    counts = {name: int(row["stot"]) for name, row in hosts.balancer_socket().stats().items()}
    assert all(counts[name] >= 2 for name in cluster.APP_HOSTS), counts
    page = lb.http("GET", f"http://{cluster.BALANCER}{cluster.PREFIX}/", headers=PUBLIC)
    assert page.status == 200 and f'href="{cluster.PREFIX}/static/' in page.text


def test_a_login_through_one_host_holds_on_the_other_and_a_logout_ends_it_on_both(hosts):
    admin = f"{cluster.PREFIX}/admin/"
    on_app1 = hosts.browser("app1")
    assert on_app1.login(cluster.PREFIX, PASSWORD).status == 303
    on_app2 = hosts.browser("app2", on_app1)
    assert on_app2.get(admin).status == 200, "one secret key and one database: the session holds"
    assert on_app2.logout(cluster.PREFIX).status in (302, 303)
    for name in cluster.APP_HOSTS:
        page = hosts.browser(name, on_app1).get(admin)
        assert page.status in (302, 303) and "/admin/login" in page.headers["Location"], name


def test_failed_logins_through_one_host_count_on_the_other(hosts):
    # As the balancer passes the client on (trusted-proxies = 1); a documentation
    # address, only ever a header's value here.
    client = {"X-Forwarded-For": "198.51.100.7"}
    for attempt in range(5):                    # the per-client limit: 5 in 5 minutes
        through_app1 = hosts.browser("app1")
        through_app1.headers.update(client)
        assert through_app1.login(cluster.PREFIX, "wrong password").status == 200, attempt
    through_app2 = hosts.browser("app2")
    through_app2.headers.update(client)
    refused = through_app2.login(cluster.PREFIX, PASSWORD)
    assert refused.status == 429 and int(refused.headers["Retry-After"]) > 0, "counted in the shared database"


def test_a_post_through_one_host_is_shown_by_the_other_within_a_second(hosts):
    front = f"{cluster.PREFIX}/"
    on_app2 = hosts.browser("app2")
    for _ in range(2):                          # app2's page cache holds the front page
        assert on_app2.get(front).status == 200
    on_app1 = hosts.browser("app1")
    assert on_app1.login(cluster.PREFIX, PASSWORD).status == 303
    title = f"Through app1 {time.monotonic_ns()}"
    form = {"csrf_token": on_app1.csrf(f"{cluster.PREFIX}/admin/posts/new"), "title": title, "body": "Hello"}
    assert on_app1.post(f"{cluster.PREFIX}/admin/posts/new", form).status == 303
    written = time.monotonic()
    while title not in on_app2.get(front).text:
        assert time.monotonic() - written < 1.0, "app2 still shows its cached front page after 1 s"
        time.sleep(0.05)


def test_an_image_posted_through_one_host_is_sent_by_the_others_nginx(hosts):
    on_app1 = hosts.browser("app1")
    assert on_app1.login(cluster.PREFIX, PASSWORD).status == 303
    image = png_bytes()
    form = {"csrf_token": on_app1.csrf(f"{cluster.PREFIX}/admin/posts/new"), "title": "With an image", "body": "b"}
    files = {"image": ("a.png", image, "image/png")}
    assert on_app1.post(f"{cluster.PREFIX}/admin/posts/new", form, files=files).status == 303
    post = on_app1.get(f"{cluster.PREFIX}/api/posts").json()[0]
    url = post["image"]
    assert url.startswith(f"{cluster.PREFIX}/uploads/"), post
    on_app2 = hosts.browser("app2")
    for _ in range(2):      # the first from the database through the app; then app2's own copy
        answer = on_app2.get(url)
        assert answer.status == 200 and answer.body == image
        # Sent by nginx: its headers for the files it serves, not the app's.
        assert answer.headers["Content-Type"] == "image/png"
        assert answer.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'; sandbox"
    name = url.rsplit("/", 1)[1]
    assert hosts.hosts["app2"].run(f"stat -c '%U %a' /var/lib/subsite/uploads/{name}").stdout.strip() == \
        "www-data 644"


def test_subsite_check_reports_the_shared_database_and_images(hosts):
    for name in cluster.APP_HOSTS:
        said = hosts.hosts[name].run("subsite check", check=False).stdout
        where = f"postgresql://{cluster.DB_USER}@{cluster.DATABASE_HOST}/{cluster.DB_NAME}"
        assert f"[ OK ] database reachable as www-data (PostgreSQL {where})" in said, said
        assert "[ OK ] database schema at version" in said, said
        assert re.search(r"\[ OK \] images shared through .*: its uploads table holds \d+ images", said), said
        assert cluster.DB_PASSWORD not in said


def test_with_postgresql_down_pages_and_images_are_still_read_and_a_post_says_why(hosts):
    """The shared store down: both hosts fail HAProxy's check, and the balancer's fallback lines
    still send them the public's requests; `subsite check` says what is wrong."""
    public, admin = hosts.browser("balancer"), hosts.browser("balancer")
    assert admin.login(cluster.PREFIX, PASSWORD).status == 303
    form = {"csrf_token": admin.csrf(f"{cluster.PREFIX}/admin/posts/new"), "title": "Kept", "body": "b"}
    assert admin.post(f"{cluster.PREFIX}/admin/posts/new", form, files={"image": ("k.png", png_bytes(), "image/png")}
                      ).status == 303
    image = public.get(f"{cluster.PREFIX}/api/posts").json()[0]["image"]
    front = f"{cluster.PREFIX}/"
    for _ in range(4):                  # each host's cache holds the front page, each host a copy of the image
        assert public.get(front).status == 200 and public.get(image).status == 200
    db = hosts.hosts["db"]
    db.run("service postgresql stop")
    try:
        hosts.wait_states(dict.fromkeys(cluster.APP_HOSTS, "DOWN"), timeout=10)
        for _ in range(4):
            page = public.get(front)
            assert page.status == 200 and "Kept" in page.text, page.status
            assert public.get(image).status == 200
        form["title"] = "Not kept"
        refused = admin.post(f"{cluster.PREFIX}/admin/posts/new", form)
        assert refused.status == 503 and "database is unreachable" in refused.text, refused.text[:500]
        assert refused.headers["Retry-After"] == "5"
        said = hosts.hosts["app1"].run("subsite check", check=False)
        assert said.returncode == 1 and "[FAIL] database reachable as www-data (PostgreSQL" in said.stdout, said.stdout
        assert cluster.DB_PASSWORD not in said.stdout
    finally:
        db.run("service postgresql start")
    hosts.wait_states(dict.fromkeys(cluster.APP_HOSTS, "UP"), timeout=15)


def test_postgresql_restarted_under_load_fails_cleanly_and_loses_nothing(hosts):
    on_app1 = hosts.browser("app1")
    assert on_app1.login(cluster.PREFIX, PASSWORD).status == 303
    load = hosts.start_load(on_app1, duration=cluster.LOAD_SECONDS + 4, write_share=0.2, tag="pg-restart",
                            timeout=15)
    time.sleep(3)
    db = hosts.hosts["db"]
    postmaster = "head -1 /var/lib/postgresql/*/main/postmaster.pid"
    before = db.run(postmaster).stdout
    db.run("service postgresql restart")
    assert db.run(postmaster).stdout != before, "PostgreSQL was restarted"
    result = hosts.finish_load(load)
    figures = soak.load_figures(result)
    print("postgresql restarted under load:", figures)
    # Requests during the restart may fail, with a page and at once: never a hang past 10 s.
    assert result["latency_ms"]["max"] < 10_000, figures
    assert sum(result["errors"].values()) == 0, figures
    assert {code for code in result["codes"] if code >= "500"} <= {"503"}, result["codes"]   # the app's page
    assert result["classes"].get("2xx", 0) > 100 and result["created"], figures
    # The apps reconnected by themselves, and every acknowledged write is there.
    for name in cluster.APP_HOSTS:
        hosts.wait_healthy(name, timeout=15)
    missing = hosts.site("app1").missing(result["created"])
    assert missing == [], f"acknowledged writes lost: {missing[:5]}"


def test_a_host_whose_app_was_killed_is_routed_around_and_taken_back(hosts):
    app1 = hosts.hosts["app1"]
    load = hosts.start_load(duration=cluster.LOAD_SECONDS)
    app1.run("sleep 2; " + KILL_UWSGI)
    if app1.init == "systemd":
        # systemd holds the socket and starts the app again by itself (Restart=on-failure).
        app1.run("sleep 1; until systemctl is-active --quiet subsite.service; do sleep 0.2; done", timeout=30)
    else:
        hosts.wait_states({"app1": "DOWN"}, timeout=10)
        app1.run("service uwsgi start")
    hosts.wait_states({"app1": "UP"}, timeout=15)
    result = hosts.finish_load(load)
    print(f"every uWSGI process of app1 ({app1.init}) killed under load:", soak.load_figures(result))
    # GETs that reached app1's nginx as its app died are sent to app2 (retry-on 502).
    assert soak.failed(result) <= cluster.READS["connections"], soak.load_figures(result)
    assert result["requests"] > 100, soak.load_figures(result)


def test_a_host_that_lost_power_is_routed_around_and_taken_back_when_it_is_up(hosts):
    app2 = hosts.hosts["app2"]
    load = hosts.start_load(duration=cluster.LOAD_SECONDS)
    time.sleep(2)
    app2.kill()                     # every process of the host, its nginx too, at once
    hosts.wait_states({"app2": "DOWN"}, timeout=10)
    app2.boot(net=hosts.network.pid)
    if app2.init != "systemd":      # what its boot would start: no init system in this machine
        app2.run("service nginx start && service uwsgi start")
    hosts.wait_states({"app2": "UP"}, timeout=60)
    result = hosts.finish_load(load)
    print(f"app2 ({app2.init}) lost power under load:", soak.load_figures(result))
    assert soak.failed(result) <= cluster.READS["connections"], soak.load_figures(result)


def test_rolling_upgrade_fails_no_request_and_loses_no_write(hosts):
    """The package's upgrade path on every host in turn, drained, under reads and writes.

    The same version again (test_cluster_roll.py rolls from release 1.0.0):
    prerm, postinst (nginx reload, app restart), `subsite migrate`, `subsite setup`.
    """
    on_app1 = hosts.browser("app1")
    assert on_app1.login(cluster.PREFIX, PASSWORD).status == 303
    upgrade = cluster.rolling.UPGRADE.replace("apt-get update -q", "apt-get update -q -o Acquire::Retries=0")
    upgrade = upgrade.replace("install -q -y subsite", "install -q -y --reinstall subsite")
    assert upgrade != cluster.rolling.UPGRADE
    load = hosts.start_load(on_app1, duration=3600, write_share=0.2, tag="roll-again")
    try:
        steps = hosts.roll(upgrade)
    finally:
        result = hosts.finish_load(load, stop=True)
    print("rolling reinstall under load:", soak.load_figures(result))
    assert steps == [f"{name}: {what}" for name in cluster.APP_HOSTS
                     for what in ("draining", "upgrading", "upgraded, back in rotation")]
    assert soak.failed(result) == 0, soak.load_figures(result)
    assert result["requests"] > 100 and result["created"], soak.load_figures(result)
    missing = hosts.site("app2").missing(result["created"])
    assert missing == [], f"acknowledged writes lost: {missing[:5]}"
