"""Soak items: load, faults, hostile input and security, against an installed subsite.

Each item is a function ``item(site, params) -> Result``: it runs against a
Site (a booted Machine with the package installed and an admin password set),
records figures, and lists what went wrong in ``Result.problems`` (empty: the
item passed).  ``scripts/soak`` runs every item at full size and prints the
figures; tests/install/test_soak.py runs each at SHORT size.

Load comes from loadgen.py, one host python process inside the machine's
network namespace (threads, keep-alive connections): Machine.http starts a
process per request, far too slow for load.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import random
import re
import shlex
import subprocess
import time
from pathlib import Path

from browser import Browser, multipart, png_bytes
from machine import CLEAN_ENV, HOST_PYTHON

LOADGEN = Path(__file__).with_name("loadgen.py")
PASSWORD = "correct horse battery"
PREFIX = "/subsite"
UWSGI_INI = "/etc/uwsgi/apps-available/subsite.ini"
SETTINGS = "/etc/subsite/subsite.ini"
UWSGI_LOG = "/var/log/uwsgi/app/subsite.log"
PIDFILE = "/run/uwsgi/app/subsite/pid"
SOCKET = "/run/uwsgi/app/subsite/socket"
VENV_PYTHON = "/opt/venvs/subsite/bin/python"


@dataclasses.dataclass(frozen=True)
class Params:
    """How big each item is."""

    load_seconds: float        # mixed load
    connections: int
    write_share: float         # share of admin writes in the mixed load
    kill_seconds: float        # worker kills under load, one every kill_every s
    kill_every: float
    writers: int               # concurrent admin writers
    write_seconds: float
    slow_connections: int      # slowloris
    slow_seconds: float
    harakiri: int | None       # harakiri for the stuck request (None: the shipped value)


SHORT = Params(load_seconds=6, connections=64, write_share=0.05, kill_seconds=7, kill_every=2,
               writers=16, write_seconds=4, slow_connections=100, slow_seconds=5, harakiri=3)
FULL = Params(load_seconds=60, connections=64, write_share=0.05, kill_seconds=60, kill_every=5,
              writers=32, write_seconds=20, slow_connections=500, slow_seconds=70, harakiri=None)


@dataclasses.dataclass
class Result:
    """One item's outcome: figures to print and the problems found."""

    name: str
    figures: dict = dataclasses.field(default_factory=dict)
    problems: list = dataclasses.field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self):
        return not self.problems

    def check(self, condition, problem):
        if not condition:
            self.problems.append(problem)
        return condition

    def report(self):
        """Figures and problems as text, for assertion messages."""
        lines = [f"{self.name}: {'ok' if self.ok else 'FAILED'} ({self.seconds:.1f} s)"]
        lines += [f"  {k}: {v}" for k, v in self.figures.items()]
        lines += [f"  problem: {p}" for p in self.problems]
        return "\n".join(lines)


def timed(function):
    """Run an item, timing it into its Result."""

    def run(*args, **kwargs):
        t0 = time.monotonic()
        result = function(*args, **kwargs)
        result.seconds = time.monotonic() - t0
        return result

    run.__name__ = function.__name__
    run.__doc__ = function.__doc__
    return run


class Site:
    """An installed subsite in a booted Machine, and the admin session the items use."""

    def __init__(self, machine, prefix=PREFIX, password=PASSWORD, origin="http://localhost", headers=None):
        """ORIGIN and HEADERS: where and how the site is asked (another host's address, its public name)."""
        self.machine, self.prefix, self.password = machine, prefix, password
        self.origin, self.headers = origin, dict(headers or {})
        self.browser = None

    @classmethod
    def install(cls, machine, package="subsite", password=PASSWORD):
        """Install PACKAGE with apt, set the admin password, log in."""
        machine.install(package)
        machine.run("subsite password", input=password + "\n")
        site = cls(machine, password=password)
        site.wait_healthy()
        site.login()
        return site

    # ---- HTTP --------------------------------------------------------------

    def url(self, path):
        return f"{self.origin}{self.prefix}{path}"

    def wait_healthy(self, timeout=30):
        return self.machine.wait_http(self.url("/_health"), headers=self.headers, timeout=timeout)

    def login(self):
        """Log the site's Browser in to the admin (the session the load writes with)."""
        self.browser = Browser(self.machine, self.origin, self.headers)
        answer = self.browser.login(self.prefix, self.password)
        assert answer.status == 303, f"admin login failed: {answer.status} {answer.text[:300]}"
        return self.browser

    def admin_session(self):
        """Return (Cookie header, CSRF token) of the logged-in admin."""
        target = f"{self.prefix}/admin/api/csrf"
        token = self.browser.get(target).json()["csrf_token"]
        return self.browser.cookie_header(f"{self.prefix}/admin/api/posts"), token

    def posts(self):
        """Every post the site lists, as {id: title}: every page of the API, following its rel="next" links."""
        listed, target = {}, f"{self.prefix}/api/posts"
        while target:
            answer = self.machine.http("GET", self.origin + target, headers=self.headers, timeout=30)
            assert answer.status == 200, f"GET {target}: {answer.status}"
            listed.update((p["id"], p["title"]) for p in answer.json())
            link = re.fullmatch(r'<([^>]*)>; rel="next"', answer.headers.get("Link", ""))
            target = link and link[1]
        return listed

    def missing(self, created):
        """The acknowledged writes ([id, title]) the site no longer has."""
        listed = self.posts()
        return [pair for pair in created if listed.get(pair[0]) != pair[1]]

    # ---- loadgen -------------------------------------------------------------

    def _loadgen(self):
        return subprocess.Popen(
            ["nsenter", "--net", "--target", str(self.machine.pid), HOST_PYTHON, "-I", str(LOADGEN)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=CLEAN_ENV)

    def start(self, **spec):
        """Start loadgen with SPEC (see loadgen.py) in the background; finish() it."""
        spec.setdefault("mode", "load")
        spec.setdefault("prefix", self.prefix)
        if spec["mode"] == "load" and spec.get("write_share"):
            spec["cookie"], spec["csrf"] = self.admin_session()
            spec.setdefault("tag", f"soak-{random.randrange(1 << 30):x}")
        proc = self._loadgen()
        proc.stdin.write(json.dumps(spec).encode())
        proc.stdin.close()
        proc.stdin = None   # so communicate() does not flush it
        return proc

    def finish(self, proc, stop=False, timeout=600):
        """Wait for loadgen (SIGTERM first with STOP) and return its JSON result."""
        if stop:
            proc.terminate()
        out, err = proc.communicate(timeout=timeout)
        if proc.returncode != 0:
            raise AssertionError(f"loadgen failed ({proc.returncode}): {err.decode()[-2000:]}")
        return json.loads(out)

    def load(self, **spec):
        return self.finish(self.start(**spec))

    # ---- processes and files -------------------------------------------------

    def _proc(self):
        return self.machine.proc()

    def status_of(self, pid):
        """/proc/PID/status (PID as seen inside) as a dict, or None if gone."""
        try:
            text = (self._proc() / str(pid) / "status").read_text()
        except OSError:
            return None
        return {k: v.strip() for k, _, v in (line.partition(":") for line in text.splitlines())}

    def master(self):
        """The uWSGI master's pid: its unit's main pid, or from its pid file (None if there is none)."""
        if self.machine.init == "systemd":
            text = self.machine.run("systemctl show --property=MainPID --value subsite.service").stdout.strip()
        else:
            text = self.machine.run(f"cat {PIDFILE} 2>/dev/null || true").stdout.strip()
        return int(text) if text.isdigit() and text != "0" else None

    def uwsgi_processes(self):
        """{pid: ppid} of every uWSGI process of the app."""
        found = {}
        for pid, cmd in self.machine.processes():
            if cmd.startswith("/usr/bin/uwsgi") and "subsite.ini" in cmd:
                status = self.status_of(pid)
                if status:
                    found[pid] = int(status["PPid"])
        return found

    def workers(self, master=None):
        master = master or self.master()
        return sorted(pid for pid, ppid in self.uwsgi_processes().items() if ppid == master)

    def uwsgi_option(self, name, default=None):
        """The last ``name = value`` of the app's uWSGI file."""
        values = re.findall(rf"^\s*{re.escape(name)}\s*=\s*(\S+)", self.machine.run(f"cat {UWSGI_INI}").stdout,
                            re.MULTILINE)
        return values[-1] if values else default

    def log_size(self):
        return int(self.machine.run(f"stat -c %s {UWSGI_LOG}").stdout)

    def log_since(self, offset):
        return self.machine.run(f"tail -c +{offset + 1} {UWSGI_LOG}").stdout

    def set_setting(self, key, value):
        """Set KEY in the settings file (adding the line if missing); needs a restart."""
        self.machine.run(f"grep -q '^{key} *=' {SETTINGS} && sed -i 's|^{key} *=.*|{key} = {value}|' {SETTINGS}"
                         f" || echo '{key} = {value}' >> {SETTINGS}")

    def restart(self):
        self.machine.run("service uwsgi restart")
        self.wait_healthy()
        self.login()


def classes(result):
    c = result["classes"]
    return {k: c.get(k, 0) for k in ("2xx", "3xx", "4xx", "5xx")}


def failed(result):
    """Requests that failed: 5xx answers and socket errors."""
    return result["classes"].get("5xx", 0) + sum(result["errors"].values())


def load_figures(result):
    return {"requests": result["requests"], "req/s": result["rps"], **classes(result),
            "socket errors": sum(result["errors"].values()), "writes acked": len(result["created"]),
            "keep-alive GETs retried": result.get("keepalive_retries", 0),
            "p50 ms": result["latency_ms"]["p50"], "p99 ms": result["latency_ms"]["p99"]}


# --------------------------------------------------------------------------
# the items

@timed
def mixed_load(site, p):
    """64 connections of mixed reads and admin writes: no 5xx, every post readable."""
    r = Result("mixed load")
    out = site.load(connections=p.connections, duration=p.load_seconds, write_share=p.write_share)
    missing = site.missing(out["created"])
    r.figures.update(load_figures(out), **{"posts missing": len(missing)})
    r.check(classes(out)["5xx"] == 0, f"5xx answers: {out['codes']}")
    r.check(not out["errors"], f"socket errors: {out['errors']}")
    r.check(classes(out)["4xx"] == 0, f"4xx answers: {out['codes']}")
    r.check(out["created"], "no write was acknowledged")
    r.check(not missing, f"acknowledged posts not readable: {missing[:5]}")
    return r


@timed
def concurrent_writes(site, p):
    """Admin writers only: no 'database is locked', WAL mode, nothing lost."""
    r = Result("concurrent admin writes")
    offset = site.log_size()
    out = site.load(connections=p.writers, duration=p.write_seconds, write_share=1.0)
    log = site.log_since(offset)
    locked = log.count("database is locked")
    journal = site.machine.run(
        f"runuser -u www-data -- {VENV_PYTHON} -c \"import sqlite3; "
        f"print(sqlite3.connect('/var/lib/subsite/subsite.db').execute('PRAGMA journal_mode').fetchone()[0])\""
    ).stdout.strip()
    missing = site.missing(out["created"])
    r.figures.update({"writers": p.writers, "writes acked": len(out["created"]),
                      "writes/s": round(len(out["created"]) / out["elapsed"], 1), **classes(out),
                      "socket errors": sum(out["errors"].values()), "p99 ms": out["latency_ms"]["p99"],
                      "'database is locked' in log": locked, "journal mode": journal,
                      "posts missing": len(missing)})
    r.check(failed(out) == 0, f"failed writes: {out['codes']} {out['errors']}")
    r.check(locked == 0, f"'database is locked' {locked} times in {UWSGI_LOG}")
    r.check(journal == "wal", f"journal mode is {journal!r}, not wal")
    r.check(out["created"] and not missing, f"acked {len(out['created'])}, missing {missing[:5]}")
    return r


@timed
def worker_kills(site, p):
    """kill -9 of one worker every few seconds under load: respawned, failures <= in flight."""
    r = Result("worker kill -9 under load")
    threads = int(site.uwsgi_option("threads", 1))
    master = site.master()
    workers = site.workers(master)
    rng = random.Random(7)
    proc = site.start(connections=p.connections, duration=p.kill_seconds + 120, write_share=p.write_share)
    kills, respawn = 0, []
    try:
        start = time.monotonic()
        time.sleep(min(1.0, p.kill_every))
        while time.monotonic() - start < p.kill_seconds:
            victim = rng.choice(site.workers(master))
            site.machine.run(f"kill -9 {victim}")
            kills += 1
            t0 = time.monotonic()
            while time.monotonic() - t0 < 10:
                now = site.workers(master)
                if victim not in now and len(now) == len(workers):
                    respawn.append(time.monotonic() - t0)
                    break
                time.sleep(0.05)
            time.sleep(max(0.0, start + (kills + 0.5) * p.kill_every - time.monotonic()))
    finally:
        out = site.finish(proc, stop=True)
    missing = site.missing(out["created"])
    bound = kills * threads
    r.figures.update({"kills": kills, "respawned": len(respawn),
                      "max respawn ms": round(max(respawn) * 1000) if respawn else None,
                      "failed requests": failed(out), "in-flight bound": bound,
                      "requests": out["requests"], "writes acked": len(out["created"]),
                      "posts missing": len(missing)})
    r.check(len(respawn) == kills, f"{kills - len(respawn)} killed workers were not respawned within 10 s")
    r.check(site.master() == master, "the master changed")
    r.check(len(site.workers(master)) == len(workers), "fewer workers at the end")
    r.check(failed(out) <= bound, f"{failed(out)} failed requests for {kills} kills x {threads} threads: "
            f"{out['codes']} {out['errors']} at {out['failures'][:10]}")
    r.check(classes(out)["4xx"] == 0, f"4xx answers: {out['codes']}")
    r.check(not missing, f"acknowledged posts not readable: {missing[:5]}")
    return r


@timed
def master_kill(site, p):
    """kill -9 of the master: systemd restarts it; without, `service uwsgi start` recovers
    from the stale pid file and socket."""
    systemd = site.machine.init == "systemd"
    r = Result("master kill -9, then " + ("systemd's restart" if systemd else "service uwsgi start"))
    before = site.posts()
    master = site.master()
    old = set(site.uwsgi_processes())
    site.machine.run(f"kill -9 {master}")
    t0 = time.monotonic()
    while time.monotonic() - t0 < 10 and set(site.uwsgi_processes()) & old:
        time.sleep(0.1)
    orphans = set(site.uwsgi_processes()) & old
    stale = site.machine.run(f"cat {PIDFILE}; test -S {SOCKET} && echo socket", check=False).stdout.split()
    t1 = time.monotonic()
    if systemd:
        start = site.machine.run("true")            # Restart=on-failure: nothing to do but wait
    else:
        start = site.machine.run("service uwsgi start", check=False)
    site.wait_healthy()
    recovered = time.monotonic() - t1
    site.login()
    new = site.master()
    strays = [pid for pid, ppid in site.uwsgi_processes().items() if pid != new and ppid != new]
    write = site.load(connections=1, duration=30, write_share=1.0, requests_per_connection=1)
    after = site.posts()
    r.figures.update({"old workers gone after kill": not orphans,
                      "stale pid file": str(master) in stale if not systemd else "none (systemd)",
                      "socket kept": "socket" in stale, "start exit code": start.returncode,
                      "seconds to healthy": round(recovered, 2), "new master": new != master,
                      "stray processes": len(strays), "posts kept": f"{len(set(before) & set(after))}/{len(before)}"})
    r.check(not orphans, f"workers of the killed master still run: {sorted(orphans)}")
    r.check(start.returncode == 0, f"service uwsgi start failed: {start.stdout}{start.stderr}")
    r.check(new and new != master, f"pid file holds {new}, killed master was {master}")
    r.check(not strays, f"uWSGI processes outside the new master: {strays}")
    r.check(set(before) <= set(after), "posts lost")
    r.check(len(write["created"]) == 1 and not site.missing(write["created"]),
            f"a write after recovery failed: {write}")
    return r


@timed
def upgrade_under_load(site, p, version=None):
    """`apt-get install subsite` (a newer version) under load, run as unattended-upgrades
    would (a oneshot unit, under systemd): failed requests, lost writes."""
    r = Result("apt upgrade under load")
    before = site.machine.run("dpkg-query -W -f '${Version}' subsite").stdout
    proc = site.start(connections=p.connections // 2, duration=600, write_share=p.write_share)
    try:
        time.sleep(2)
        t0 = time.monotonic()
        target = f"subsite={version}" if version else "subsite"
        upgrade = site.machine.oneshot(f"apt-get install -q -y {shlex.quote(target)}", check=False, timeout=600)
        took = time.monotonic() - t0
        time.sleep(3)
    finally:
        out = site.finish(proc, stop=True)
    after = site.machine.run("dpkg-query -W -f '${Version}' subsite").stdout
    site.wait_healthy()
    missing = site.missing(out["created"])
    r.figures.update({"from": before, "to": after, "upgrade s": round(took, 1), "requests": out["requests"],
                      "failed requests": failed(out), **classes(out), "writes acked": len(out["created"]),
                      "keep-alive GETs retried": out.get("keepalive_retries", 0),
                      "posts missing": len(missing)})
    r.check(upgrade.returncode == 0, f"apt-get install failed: {upgrade.stdout[-1500:]}{upgrade.stderr[-1500:]}")
    r.check(after != before, f"still at {before}")
    r.check(failed(out) == 0, f"{failed(out)} failed requests during the upgrade: {out['codes']} "
            f"{out['errors']} at {out['failures'][:10]}")
    r.check(not missing, f"acknowledged posts lost: {missing[:5]}")
    return r


def hostile_cases(prefix, cookie="", csrf=""):
    """(name, raw request head, extra, allowed statuses) of each hostile request."""
    host = "Host: localhost\r\n"
    admin = f"Cookie: {cookie}\r\nX-CSRF-Token: {csrf}\r\n"
    big_cookie = "; ".join(f"c{i}={'v' * 96}" for i in range(100))
    cookie_lines = "".join(f"Cookie: c{i}={'v' * 40}\r\n" for i in range(100))
    four_full = "".join(f"X-Fill-{i}: {'f' * 8000}\r\n" for i in range(3))
    bad_json = b'{"title": "\xff\xfe", "body": "\xc3\x28"}'
    nul_json = b'{"title": "a\\u0000b", "body": "nul \\u0000"}'
    cases = [
        ("9 KB header", f"GET {prefix}/ HTTP/1.1\r\n{host}X-Big: {'a' * 9216}\r\n\r\n", {}, (400,)),
        ("100 cookies, one 10 KB header", f"GET {prefix}/ HTTP/1.1\r\n{host}Cookie: {big_cookie}\r\n\r\n", {},
         (400,)),
        ("100 Cookie lines (4 KB)", f"GET {prefix}/posts/0 HTTP/1.1\r\n{host}{cookie_lines}\r\n", {}, (404,)),
        ("3 header lines of 8 KB", f"GET {prefix}/posts/0?{'q' * 7000} HTTP/1.1\r\n{host}{four_full}\r\n", {},
         (400, 404)),
        ("2 MB form body, no CSRF", f"POST {prefix}/admin/login HTTP/1.1\r\n{host}Content-Type: "
         f"application/x-www-form-urlencoded\r\nContent-Length: {2 << 20}\r\n\r\n", {"body_len": 2 << 20}, (400,)),
        ("2 MB body to a GET page", f"POST {prefix}/ HTTP/1.1\r\n{host}Content-Length: {2 << 20}\r\n\r\n",
         {"body_len": 2 << 20}, (405,)),
        ("100 MB body", f"POST {prefix}/admin/api/posts HTTP/1.1\r\n{host}{admin}Content-Type: application/json"
         f"\r\nContent-Length: {100 << 20}\r\n\r\n", {"body_len": 100 << 20}, (413,)),
        ("100 MB chunked body", f"POST {prefix}/admin/api/posts HTTP/1.1\r\n{host}{admin}Content-Type: "
         "application/json\r\nTransfer-Encoding: chunked\r\n\r\n", {"body_len": 100 << 20, "chunked": True}, (413,)),
        ("invalid UTF-8 in the path (escaped)", f"GET {prefix}/posts/%FF%FE HTTP/1.1\r\n{host}\r\n", {}, (404,)),
        ("invalid UTF-8 in the path (raw)", f"GET {prefix}/\udcff\udcfe HTTP/1.1\r\n{host}\r\n", {}, (400, 404)),
        ("invalid UTF-8 in a header", f"GET {prefix}/posts/0 HTTP/1.1\r\n{host}X-Bad: \udcff\udcc3(\r\n\r\n",
         {}, (404,)),
        ("invalid UTF-8 JSON to the admin API", f"POST {prefix}/admin/api/posts HTTP/1.1\r\n{host}{admin}"
         f"Content-Type: application/json\r\nContent-Length: {len(bad_json)}\r\n\r\n", {"tail": bad_json}, (400,)),
        ("NUL in the path (escaped)", f"GET {prefix}/%00 HTTP/1.1\r\n{host}\r\n", {}, (400, 404)),
        ("NUL in the path (raw)", f"GET {prefix}/\0x HTTP/1.1\r\n{host}\r\n", {}, (400,)),
        ("NUL in a header", f"GET {prefix}/ HTTP/1.1\r\n{host}X-Nul: a\0b\r\n\r\n", {}, (400,)),
        ("NUL in JSON to the admin API", f"POST {prefix}/admin/api/posts HTTP/1.1\r\n{host}{admin}"
         f"Content-Type: application/json\r\nContent-Length: {len(nul_json)}\r\n\r\n", {"tail": nul_json}, (400,)),
        ("overlong path (10 KB)", f"GET {prefix}/{'p' * 10240} HTTP/1.1\r\n{host}\r\n", {}, (414,)),
        ("long path (7 KB)", f"GET {prefix}/{'p' * 7000} HTTP/1.1\r\n{host}\r\n", {}, (404,)),
        ("overlong query string (10 KB)", f"GET {prefix}/?{'q' * 10240} HTTP/1.1\r\n{host}\r\n", {}, (414,)),
        ("unknown method FOO", f"FOO {prefix}/ HTTP/1.1\r\n{host}\r\n", {}, (405,)),
        ("unknown method PROPFIND (admin: CSRF first)", f"PROPFIND {prefix}/admin/ HTTP/1.1\r\n{host}\r\n", {}, (400,)),
        ("lower-case method", f"get {prefix}/ HTTP/1.1\r\n{host}\r\n", {}, (400,)),
        ("TRACE", f"TRACE {prefix}/ HTTP/1.1\r\n{host}\r\n", {}, (405,)),
    ]
    return cases


@timed
def hostile_input(site, p):
    """Each hostile request gets its 4xx, never a 5xx; slowloris; the service keeps answering."""
    r = Result("hostile input")
    cookie, csrf = site.admin_session()
    offset = site.log_size()
    workers = site.workers()
    specs = []
    allowed = {}
    for name, head, extra, codes in hostile_cases(site.prefix, cookie, csrf):
        data = head.encode("utf-8", "surrogateescape") + extra.pop("tail", b"")
        specs.append({"name": name, "head": base64.b64encode(data).decode(), **extra})
        allowed[name] = codes
    out = site.load(mode="raw", cases=specs)
    for case in out["cases"]:
        r.figures[case["name"]] = case["status"]
        r.check(case["status"] in allowed[case["name"]],
                f"{case['name']}: got {case['status']}, want {' or '.join(map(str, allowed[case['name']]))}")
    slow = site.load(mode="slowloris", connections=p.slow_connections, seconds=p.slow_seconds, interval=2,
                     probe=f"{site.prefix}/_health")
    probes_ok = slow["probes"].get("200", 0)
    probes = sum(slow["probes"].values())
    r.figures.update({"slowloris connections": slow["connections"], "slowloris s": slow["seconds"],
                      "probes ok during slowloris": f"{probes_ok}/{probes}",
                      "slowest probe ms": slow["slowest_probe_ms"],
                      "slow connections dropped by nginx": slow["dropped_by_server"],
                      "first drop s": slow["first_drop_s"]})
    r.check(probes and probes_ok == probes, f"probes during slowloris: {slow['probes']}")
    if p.slow_seconds > 65:  # nginx's client_header_timeout is 60 s
        r.check(slow["dropped_by_server"] == slow["connections"], "nginx kept slow connections past 60 s")
    after = site.load(connections=16, duration=2)
    log = site.log_since(offset)
    r.figures["after: requests ok"] = f"{classes(after)['2xx']}/{after['requests']}"
    r.check(failed(after) == 0 and classes(after)["4xx"] == 0, f"after the hostile input: {after['codes']}")
    r.check(site.workers() == workers, "workers were replaced (hung or crashed)")
    r.check("HARAKIRI" not in log and "Traceback" not in log, f"errors in the app log: {log[-1500:]}")
    return r


@timed
def stuck_request(site, p):
    """A request stuck in the app is ended by harakiri and the worker comes back."""
    r = Result("stuck request ends by harakiri")
    off = site.machine.http("GET", site.url("/_test/sleep?seconds=0"))
    r.check(off.status == 404, f"the test endpoint answers {off.status} while test-endpoints = no")
    shipped = int(site.uwsgi_option("harakiri", 0))
    harakiri = p.harakiri or shipped
    ini_before = site.machine.run(f"cat {UWSGI_INI}").stdout
    site.set_setting("test-endpoints", "yes")
    if harakiri != shipped:
        site.machine.run(f"sed -i 's/^harakiri *=.*/harakiri = {harakiri}/' {UWSGI_INI}")
    try:
        site.restart()
        workers = site.workers()
        offset = site.log_size()
        proc = site.start(mode="raw", cases=[{
            "name": "stuck", "timeout": harakiri * 3 + 30,
            "head": base64.b64encode(f"GET {site.prefix}/_test/sleep?seconds={harakiri * 3 + 60} HTTP/1.1\r\n"
                                     "Host: localhost\r\n\r\n".encode()).decode()}])
        time.sleep(min(1.0, harakiri / 2))
        during = site.load(connections=4, duration=min(2.0, harakiri / 2))
        stuck = site.finish(proc)["cases"][0]
        t0 = time.monotonic()   # harakiri replaces the worker: wait for its new pid
        while time.monotonic() - t0 < 15:
            now = site.workers()
            if len(now) == len(workers) and now != workers:
                break
            time.sleep(0.1)
        log = site.log_since(offset)
        r.figures.update({"harakiri s": harakiri, "shipped harakiri s": shipped,
                          "stuck request status": stuck["status"], "ended after s": stuck["seconds"],
                          "others served meanwhile": f"{classes(during)['2xx']}/{during['requests']}",
                          "workers back": f"{len(now)}/{len(workers)}", "worker replaced": now != workers,
                          "HARAKIRI in log": "HARAKIRI" in log})
        r.check(stuck["status"] == 502, f"stuck request got {stuck['status']} (502: harakiri killed the worker)")
        r.check(harakiri <= stuck["seconds"] < harakiri + 10, f"ended after {stuck['seconds']} s")
        r.check(failed(during) == 0 and classes(during)["2xx"] == during["requests"],
                f"other requests during the stuck one: {during['codes']} {during['errors']}")
        r.check(len(now) == len(workers) and now != workers, f"workers {workers} -> {now}")
        r.check("HARAKIRI" in log, "no HARAKIRI in the app log")
        r.check(site.machine.http("GET", site.url("/_health")).status == 200, "not healthy afterwards")
    finally:
        site.set_setting("test-endpoints", "no")
        site.machine.run(f"cat > {UWSGI_INI}", input=ini_before)
        site.restart()
    return r


def login_attempts(site, source, password, attempts):
    """POST the login form ATTEMPTS times from address SOURCE; return [(status, Retry-After)]."""
    script = r"""
import http.client, json, re, sys
a = json.load(sys.stdin)
out = []
for _ in range(a["attempts"]):
    c = http.client.HTTPConnection("127.0.0.1", 80, timeout=30, source_address=(a["source"], 0))
    c.request("GET", a["prefix"] + "/admin/login", headers={"Host": "localhost"})
    r = c.getresponse(); page = r.read().decode()
    cookie = "; ".join(v.split(";")[0] for k, v in r.getheaders() if k.lower() == "set-cookie")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    body = "csrf_token=" + token + "&password=" + a["password"]
    c.request("POST", a["prefix"] + "/admin/login", body=body, headers={
        "Host": "localhost", "Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"})
    r = c.getresponse(); r.read()
    out.append([r.status, r.getheader("Retry-After")])
    c.close()
json.dump(out, sys.stdout)
"""
    proc = subprocess.run(["nsenter", "--net", "--target", str(site.machine.pid), HOST_PYTHON, "-I", "-c", script],
                          input=json.dumps({"source": source, "password": password, "attempts": attempts,
                                            "prefix": site.prefix}).encode(),
                          capture_output=True, env=CLEAN_ENV, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    return [tuple(x) for x in json.loads(proc.stdout)]


@timed
def security(site, p):
    """Rate-limited logins, scrypt, CSRF, uploads, no root workers, modes."""
    r = Result("security")
    m = site.machine
    # Login attempts per client address (default 5 per 300 s).
    tried = login_attempts(site, "127.0.0.3", "wrong-password", 6)
    other = login_attempts(site, "127.0.0.4", site.password, 1)
    r.figures["logins from one address"] = " ".join(str(s) for s, _ in tried)
    r.figures["Retry-After"] = tried[-1][1]
    r.figures["right password from another address"] = other[0][0]
    r.check([s for s, _ in tried] == [200] * 5 + [429], f"wrong logins answered {tried}")
    r.check(tried[-1][1] and 0 < int(tried[-1][1]) <= 300, f"Retry-After {tried[-1][1]!r}")
    r.check(other[0][0] == 303, f"the right password from another address: {other}")

    hashed = m.run("cat /etc/subsite/admin-password").stdout
    r.figures["password hash"] = hashed.split("$")[0]
    r.check(hashed.startswith("scrypt:"), "the password is not stored as an scrypt hash")

    # CSRF on every admin form and the API.
    b = site.browser
    new = b.get(f"{site.prefix}/admin/posts/new")
    write = site.load(connections=1, duration=30, write_share=1.0, requests_per_connection=1)
    post_id = write["created"][0][0]
    pages = [new.text, b.get(f"{site.prefix}/admin/").text, b.get(f"{site.prefix}/admin/posts/{post_id}/edit").text]
    forms = [f for page in pages for f in re.findall(r"<form[^>]*method=\"post\".*?</form>", page, re.S | re.I)]
    r.figures["admin forms"] = len(forms)
    r.check(forms and all('name="csrf_token"' in f for f in forms), "an admin form without csrf_token")
    targets = [("/admin/posts/new", "form"), (f"/admin/posts/{post_id}/edit", "form"),
               (f"/admin/posts/{post_id}/delete", "form"), ("/admin/logout", "form"),
               ("/admin/login", "form"), ("/admin/api/posts", "json")]
    refused = 0
    for path, kind in targets:
        for token in (None, "wrong-token"):
            if kind == "json":
                headers = {"Content-Type": "application/json", **({"X-CSRF-Token": token} if token else {})}
                answer = b.request("POST", site.prefix + path, headers=headers,
                                   body=json.dumps({"title": "csrf", "body": "x"}))
            else:
                fields = {"title": "csrf", "body": "x", "password": site.password}
                if token:
                    fields["csrf_token"] = token
                answer = b.post(site.prefix + path, fields)
            refused += answer.status == 400
            r.check(answer.status == 400, f"POST {path} with CSRF token {token!r}: {answer.status}")
    r.figures["POSTs without/with a wrong CSRF token refused"] = f"{refused}/{2 * len(targets)}"
    r.check(post_id in site.posts(), "a refused delete deleted the post")
    r.check(b.get(f"{site.prefix}/admin/").status == 200, "the admin session did not survive")

    # Uploads: images only, by content; size limit; served by nginx with nosniff.
    token = b.csrf(f"{site.prefix}/admin/posts/new")
    fields = {"csrf_token": token, "title": "upload", "body": "x"}
    image = b.post(f"{site.prefix}/admin/posts/new", fields, files={"image": ("a.png", png_bytes(), "image/png")})
    page = b.get(image.headers.get("Location", "/none").replace("http://localhost", ""))
    src = re.search(r'src="([^"]*/uploads/[^"]+)"', page.text)
    served = b.get(src.group(1)) if src else None
    fake = b.post(f"{site.prefix}/admin/posts/new", fields,
                  files={"image": ("a.png", b"<html><script>alert(1)</script>", "image/png")})
    svg = b.post(f"{site.prefix}/admin/posts/new", fields,
                 files={"image": ("a.svg", b'<svg xmlns="http://www.w3.org/2000/svg"/>', "image/svg+xml")})
    body, kind = multipart(fields, {"image": ("big.png", png_bytes() + b"\0" * (9 << 20), "image/png")})
    big = b.request("POST", f"{site.prefix}/admin/posts/new", headers={"Content-Type": kind}, body=body)
    r.figures.update({"PNG upload": image.status, "HTML as .png": fake.status, "SVG": svg.status,
                      "9 MB upload": big.status,
                      "upload served": served and f"{served.status} {served.headers.get('Content-Type')} "
                                                  f"nosniff={served.headers.get('X-Content-Type-Options')}"})
    r.check(image.status == 303 and served is not None and served.status == 200, "PNG upload not served")
    if served is not None:
        r.check(served.headers.get("Content-Type") == "image/png", "upload Content-Type")
        r.check(served.headers.get("X-Content-Type-Options") == "nosniff", "upload without nosniff")
        r.check(served.headers.get("Server", "").startswith("nginx") and "Set-Cookie" not in served.headers,
                "upload not served by nginx")
    r.check(fake.status == 400 and svg.status == 400, f"non-images accepted: {fake.status} {svg.status}")
    r.check(big.status == 413, f"9 MB upload answered {big.status}")

    # No request-serving process as root; files.
    rooted = []
    for pid, cmd in m.processes():
        if cmd.startswith(("nginx: worker", "/usr/bin/uwsgi")):
            status = site.status_of(pid)
            if status and status["Uid"].split()[0] == "0":
                rooted.append(cmd[:60])
    r.figures["request-serving processes as root"] = len(rooted)
    r.check(not rooted, f"running as root: {rooted}")
    writable = m.run("find / -xdev \\( -path /proc -o -path /sys -o -path /dev \\) -prune -o -perm -0002 "
                     "! -type l ! -type s \\( -type f -o ! -perm -1000 \\) -print").stdout.split()
    r.figures["world-writable files"] = len(writable)
    r.check(not writable, f"world-writable: {writable[:10]}")
    secrets = m.run("stat -c '%n %U:%G %a' /etc/subsite/* | grep -v '/subsite.ini '").stdout.splitlines()
    r.figures["secrets"] = ", ".join(line.split(" ", 1)[1] + " " + line.split()[0].rsplit("/", 1)[1]
                                     for line in secrets)
    r.check(secrets and all(line.endswith(" root:www-data 640") for line in secrets), f"secrets: {secrets}")
    return r


ITEMS = [mixed_load, concurrent_writes, worker_kills, master_kill, hostile_input, stuck_request, security]


def table(results):
    """The figures of RESULTS as a plain-text table."""
    lines = []
    for res in results:
        lines.append(f"== {res.name}: {'PASS' if res.ok else 'FAIL'} ({res.seconds:.1f} s)")
        width = max((len(k) for k in res.figures), default=0)
        lines += [f"   {k:<{width}}  {v}" for k, v in res.figures.items()]
        lines += [f"   ! {problem}" for problem in res.problems]
    return "\n".join(lines)
