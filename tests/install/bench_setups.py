"""The comparison setups of the benchmark, made inside a Machine with subsite installed.

Each is benchmark-only configuration next to the shipped one, on its own port:

  80    the shipped site: the app under /subsite/ (uWSGI), static files by nginx
  8081  the same app mounted at / (a copy of the shipped uWSGI app file, mount ""),
        in an nginx of its own (a copy of Debian's nginx.conf): the prefix/root pairs
        run side by side, each side's CPU counted from its own processes (SIDE_PIDFILES)
  8085  a plain file, /style.css in Debian's default root, in that same nginx of its
        own, so that static/plain runs side by side too
  8082  the same app under /subsite/ behind nginx -> gunicorn (sync workers,
        the same count) with SCRIPT_NAME, as the usual recipes do
  8083  a bare WSGI callable in the same uWSGI setup, mounted at /subsite
  8084  every /subsite/ URL, static files included, sent to the app (Flask serves them)

The front page is asked for past nginx's page cache (HEADERS) unless the key
says "warm".

The uWSGI copies share everything with the shipped app file but the mount line,
so they get the same workers, buffers and listen queue.
"""

from __future__ import annotations

import re
import shlex

PREFIX = "/subsite"
VENV_PYTHON = "/opt/venvs/subsite/bin/python"
APP_INI = "/etc/uwsgi/apps-available/subsite.ini"
EXEC_LINE = re.compile(r"^ini\s*=\s*exec://.*$", re.M)
GUNICORN_PORT = 8000
PLAIN_PORT = 8085
ADMIN_COOKIE = "subsite_admin"     # layout.ADMIN_COOKIE

BARE_APP = '''\
"""The ceiling: the least a WSGI app can do, answering like subsite's _health."""
BODY = b'{"database":"ok","script_root":"/subsite","status":"ok","version":"bench"}\\n'
HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(BODY))),
           ("Cache-Control", "no-store")]


def application(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]
'''

# Render nginx's upstream and locations with the package's own generator, for
# another prefix and socket, so a copy differs from the shipped site in nothing else.
RENDER = """
import dataclasses, sys
from subsite import nginx, settings
s = dataclasses.replace(settings.load(), prefix=sys.argv[1], socket=sys.argv[2])
print(nginx.render_upstream(s) if sys.argv[3] == "upstream" else nginx.render(s))
"""

GUNICORN = (
    "import sys; sys.path.append('/usr/lib/python3/dist-packages'); "
    "sys.argv[0] = 'gunicorn'; from gunicorn.app.wsgiapp import run; run()"
)

# The posts both seeds write, as the app's user (the release's own layout names them).
POSTS = """
import os, pwd
from subsite import layout
user = pwd.getpwnam(layout.WEB_USER)
os.setgid(user.pw_gid); os.setuid(user.pw_uid)
body = "A notice of ordinary length for the board. " * 8
def numbered(first, last):
    return ((i, f"Notice {i}", body, "2024-01-01T00:00:00+00:00") for i in range(first, last + 1))
"""

# Add posts in one transaction (executemany), as the app's user: "fill TOTAL"
# fills the board up to TOTAL posts (ids 1..TOTAL, so the board's size is its
# largest id; titles "Notice <id>"), "add COUNT" adds COUNT posts titled
# "Notice 1".."Notice COUNT". As the app's writes do, the board gets a new
# generation with them (pagecache.py), so that nginx's page cache shows them at
# once. The WAL is emptied after; prints the database's size.
SEED = POSTS + """
import sys
from subsite import db, pagecache
conn = db.connect(str(layout.DATABASE_FILE))
mode, number = sys.argv[1], int(sys.argv[2])
have = conn.execute("SELECT coalesce(max(id), 0) FROM posts").fetchone()[0]
if mode == "fill":
    rows = numbered(have + 1, number)
else:
    rows = ((have + n, f"Notice {n}", body, "2024-01-01T00:00:00+00:00") for n in range(1, number + 1))
published = pagecache.folder()
with pagecache.publishing(published):
    with conn:
        conn.executemany("INSERT INTO posts (id, title, body, created) VALUES (?, ?, ?, ?)", rows)
        generation = pagecache.replace(conn)
    pagecache.publish(published, generation)
conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
print(os.path.getsize(layout.DATABASE_FILE))
"""

# The same first posts (ids 1..TOTAL) for an earlier release, with sqlite3 alone: its
# modules are not this tree's (release 1.0.0 has no page cache to tell).
RELEASE_SEED = POSTS + """
import sqlite3, sys
conn = sqlite3.connect(layout.DATABASE_FILE)
with conn:
    conn.executemany("INSERT INTO posts (id, title, body, created) VALUES (?, ?, ?, ?)", numbered(1, int(sys.argv[1])))
"""

SETTINGS = "/etc/subsite/subsite.ini"
# The growth table's copies of the board, one per size, beside the app's own.
GROWTH_BOARDS = "/var/lib/subsite"
CACHE_CONF = "/var/lib/subsite-nginx/cache.conf"
CACHE_DIR = "/var/cache/subsite-nginx"
# The root setup's own nginx: Debian's nginx.conf with its own pid file and this one site.
NGINX_CONF = "/etc/nginx/nginx.conf"
NGINX_PID = "/run/nginx.pid"
# The uWSGI app of the same app at / (a copy of the shipped app file) and of the bare callable.
ROOT_UWSGI_APP = "bench-root"
BARE_UWSGI_APP = "bench-bare"
ROOT_NGINX = f"/etc/nginx/{ROOT_UWSGI_APP}"
ROOT_NGINX_PID = f"/run/{ROOT_UWSGI_APP}-nginx.pid"
ROOT_NGINX_CMD = f"nginx -c {ROOT_NGINX}/nginx.conf"


def uwsgi_run(name: str, file: str) -> str:
    """FILE ("socket", "pid") of uWSGI app NAME, where Debian's default.ini puts it."""
    return f"/run/uwsgi/app/{name}/{file}"


# The pid files of each side's masters (nginx, uWSGI): the side is them and every process
# under them. The pairs side by side (prefix/root, static/plain): each setup's CPU is its side's.
SIDES = {"prefix": (NGINX_PID, "subsite"), "root": (ROOT_NGINX_PID, ROOT_UWSGI_APP)}   # nginx, uWSGI app
SIDE_PIDFILES = {side: (nginx, uwsgi_run(app, "pid")) for side, (nginx, app) in SIDES.items()}
SIDE_OF = {"front": "prefix", "health": "prefix", "static-nginx": "prefix",
           "front-root": "root", "health-root": "root", "static-plain": "root"}


def uwsgi_workers(m) -> int:
    """The shipped app file's ``workers``."""
    text = m.run(f"cat {APP_INI}").stdout
    return int(re.search(r"^workers\s*=\s*(\d+)", text, re.M).group(1))


def fill_posts(m, total=10) -> int:
    """Fill the board up to TOTAL posts (ids 1..TOTAL), as the app's user; return the database's size in bytes."""
    return int(m.run(f"{VENV_PYTHON} - fill {total}", input=SEED).stdout)


def fill_release_posts(m, total=10) -> None:
    """Give a root running an earlier release the posts fill_posts gives this one (RELEASE_SEED)."""
    m.run(f"{VENV_PYTHON} - {total}", input=RELEASE_SEED)


def seed_posts(m, count) -> None:
    """Add COUNT posts titled "Notice 1".."Notice COUNT", as the app's user (as the admin's writes are)."""
    m.run(f"{VENV_PYTHON} - add {count}", input=SEED)


def copy_board(m, size) -> str:
    """Copy the board (checkpointed by fill_posts) to a file of its own for SIZE posts, as the app's user; return it."""
    path = f"{GROWTH_BOARDS}/growth-{size}.db"
    m.run(f"su -s /bin/sh -c 'cp /var/lib/subsite/subsite.db {path}' www-data")
    return path


def use_board(m, path, url) -> None:
    """Point the app at the SQLite file PATH (database =), restart it, wait until URL answers."""
    m.run(f"sed -i '/^database *=/d' {SETTINGS} && echo 'database = {path}' >> {SETTINGS}"
          " && service uwsgi restart >/dev/null")
    m.wait_http(url, timeout=30)


def set_nginx_workers(m, count: int) -> None:
    """Give nginx COUNT workers (worker_processes in Debian's nginx.conf), what `auto` gives on a
    machine of COUNT CPUs: `auto` counts the host's CPUs, not the ones the root is pinned to."""
    m.run(f"sed -i 's/^worker_processes .*;$/worker_processes {count};/' {NGINX_CONF}"
          f" && grep -q '^worker_processes {count};$' {NGINX_CONF}"
          " && nginx -t -q && service nginx restart >/dev/null")
    m.wait_http(URLS["health"], timeout=30)


def set_page_cache(m, on: bool) -> None:
    """Set page-cache in the settings and restart uWSGI, as an admin would; wait until every setup answers."""
    value = "yes" if on else "no"
    m.run(f"sed -i 's|^page-cache = .*|page-cache = {value}|' {SETTINGS}"
          f" && grep -q '^page-cache = {value}$' {SETTINGS} && service uwsgi restart >/dev/null")
    wait_answers(m, URLS)


def wait_answers(m, keys) -> None:
    """Wait until the setups KEYS (of URLS) answer 200, each asked as the benchmark asks it (HEADERS)."""
    for key in keys:
        m.wait_http(URLS[key], timeout=30, headers=dict(h.split(": ", 1) for h in HEADERS.get(key, ())))


def cache_memory(m) -> dict:
    """The page cache's keys zone (shared memory, as configured) and what its directory holds on disk."""
    zone = re.search(r"keys_zone=[^:\s]+:(\S+)", m.run(f"cat {CACHE_CONF}").stdout).group(1)
    kib, files = m.run(f"du -sk {CACHE_DIR} | cut -f1; find {CACHE_DIR} -type f | wc -l").stdout.split()
    return {"keys_zone": zone, "disk_kib": int(kib), "files": int(files)}


def _uwsgi_copy(m, name: str, mount: str) -> str:
    """Enable a copy of the shipped uWSGI app file with MOUNT instead of the exec line;
    return its socket (Debian's default.ini names it after the file)."""
    text = m.run(f"cat {APP_INI}").stdout
    if not EXEC_LINE.search(text):
        raise AssertionError(f"{APP_INI} has no 'ini = exec://' line to replace")
    text = EXEC_LINE.sub(f"mount = {mount}", text)
    m.run(f"cat > /etc/uwsgi/apps-available/{name}.ini && "
          f"ln -sf ../apps-available/{name}.ini /etc/uwsgi/apps-enabled/{name}.ini", input=text)
    return uwsgi_run(name, "socket")


def _locations(m, prefix: str, socket: str, part="locations") -> str:
    return m.run(f"{VENV_PYTHON} - {shlex.quote(prefix)} {shlex.quote(socket)} {part}", input=RENDER).stdout


def _server(port: int, body: str) -> str:
    return (f"server {{\n\tlisten 127.0.0.1:{port};\n\tserver_name _;\n"
            f"\troot /var/www/html;\n{body}\n}}\n")


def own_nginx_conf(text: str) -> str:
    """Debian's nginx.conf TEXT for the root setup's nginx: its own pid file, and its one site
    in place of sites-enabled (conf.d, with the page cache's zone, stays)."""
    for line, mine in ((f"pid {NGINX_PID};", f"pid {ROOT_NGINX_PID};"),
                       ("include /etc/nginx/sites-enabled/*;", f"include {ROOT_NGINX}/site;")):
        if text.count(line) != 1:
            raise AssertionError(f"{NGINX_CONF} does not have the line {line!r} once")
        text = text.replace(line, mine)
    return text


def make_all(m) -> None:
    """Create and start every comparison setup; wait until each answers."""
    root_socket = _uwsgi_copy(m, ROOT_UWSGI_APP, "=subsite.wsgi:application")
    m.run("mkdir -p /srv/bench && cat > /srv/bench/bare.py", input=BARE_APP)
    bare_socket = _uwsgi_copy(m, BARE_UWSGI_APP, f"{PREFIX}=/srv/bench/bare.py")
    workers = uwsgi_workers(m)
    proxy = (f"\tlocation {PREFIX}/ {{\n\t\tproxy_pass http://127.0.0.1:{GUNICORN_PORT};\n"
             "\t\tproxy_set_header Host $http_host;\n"
             "\t\tproxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
             "\t\tproxy_set_header X-Forwarded-Proto $scheme;\n\t}")
    to_app = (f"\tlocation {PREFIX}/ {{\n\t\tinclude uwsgi_params;\n"
              f"\t\tuwsgi_pass unix:{uwsgi_run('subsite', 'socket')};\n\t}}")
    root_site = (_locations(m, "", root_socket, "upstream") + _server(8081, _locations(m, "", root_socket))
                 + _server(PLAIN_PORT, ""))
    m.run(f"mkdir -p {ROOT_NGINX} && cat > {ROOT_NGINX}/site", input=root_site)
    m.run(f"cat > {ROOT_NGINX}/nginx.conf", input=own_nginx_conf(m.run(f"cat {NGINX_CONF}").stdout))
    site = (_locations(m, PREFIX, bare_socket, "upstream")
            + _server(8082, proxy)
            + _server(8083, _locations(m, PREFIX, bare_socket))
            + _server(8084, to_app))
    m.run("cat > /etc/nginx/sites-enabled/bench", input=site)
    m.run(f"cp {_static_dir(m)}/style.css /var/www/html/style.css")
    m.run(f"nginx -t -q && service nginx reload && service uwsgi start {ROOT_UWSGI_APP} {BARE_UWSGI_APP} >/dev/null"
          f" && {ROOT_NGINX_CMD} -t -q && {ROOT_NGINX_CMD}")
    m.run(f"cd / && SCRIPT_NAME={PREFIX} {VENV_PYTHON} -c {shlex.quote(GUNICORN)}"
          f" --workers {workers} --worker-class sync --bind 127.0.0.1:{GUNICORN_PORT}"
          " --user www-data --group www-data --daemon --pid /run/bench-gunicorn.pid"
          " --error-logfile /var/log/bench-gunicorn.log subsite.wsgi:application")
    for url in URLS.values():
        m.wait_http(url, timeout=30)


def restart_sides(m) -> None:
    """Start both sides of the side-by-side pairs anew (SIDES: uWSGI apps, nginx); wait until each
    answers. One start of the same app costs a few per cent more or less per request than the
    next (its hash seed, its memory layout: `_health`, side by side, from 0.99 to 1.01 of the
    other side across restarts), so rounds on the same two starts measure those starts."""
    apps = " ".join(app for _, app in SIDES.values())
    m.run(f"service uwsgi restart {apps} >/dev/null && service nginx restart >/dev/null"
          f" && {ROOT_NGINX_CMD} -s stop && while [ -e {ROOT_NGINX_PID} ]; do sleep 0.02; done && {ROOT_NGINX_CMD}")
    wait_answers(m, SIDE_OF)


def _static_dir(m) -> str:
    return m.run(f"{VENV_PYTHON} -c 'from subsite import nginx; print(nginx.static_dir())'").stdout.strip()


# What each setup's benchmark hits (all inside the machine's loopback).
URLS = {
    "front": f"http://127.0.0.1{PREFIX}/",
    "front-warm": f"http://127.0.0.1{PREFIX}/",
    "health": f"http://127.0.0.1{PREFIX}/_health",
    "front-root": "http://127.0.0.1:8081/",
    "health-root": "http://127.0.0.1:8081/_health",
    "front-gunicorn": f"http://127.0.0.1:8082{PREFIX}/",
    "health-gunicorn": f"http://127.0.0.1:8082{PREFIX}/_health",
    "bare": f"http://127.0.0.1:8083{PREFIX}/_health",
    "static-nginx": f"http://127.0.0.1{PREFIX}/static/style.css",
    "static-flask": f"http://127.0.0.1:8084{PREFIX}/static/style.css",
    "static-plain": f"http://127.0.0.1:{PLAIN_PORT}/style.css",
}

# nginx never answers a request that carries the admin's session cookie (any
# value) from its page cache, nor keeps the answer: with it the front page is
# built by the app every time ("front", cold), without it ("front-warm") it
# comes from the cache. The frontend reads only its own cookie. The same
# header goes to the copies, so they do the same work.
COLD = (f"Cookie: {ADMIN_COOKIE}=bench",)
HEADERS = {key: COLD for key in ("front", "front-root", "front-gunicorn")}


def growth_urls(total: int) -> dict:
    """The pages of the growth table for a board of TOTAL posts: the front page, a page far
    back (?before= the id at a tenth of the board, at least 22 so the page is full and
    links further back) and the page of the post in the middle."""
    return {"front": URLS["front"],
            "deep": f"{URLS['front']}?before={max(total // 10, 22)}",
            "post": f"{URLS['front']}posts/{total // 2}"}
