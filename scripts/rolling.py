"""Upgrade the app hosts behind HAProxy one at a time, with no failed request.

For each host in turn: drain it at the balancer (no new requests; those it
has finish), wait until it holds no request, upgrade subsite on it with apt
(then `subsite migrate`: the first host migrates a shared PostgreSQL
database, which older releases keep serving while its migrations are
additive), put it back, and wait until HAProxy's own health check
(<prefix>/_health) finds it up before the next host is touched. A host that does not come back
stops the roll, with the other hosts still serving.

Commands reach the hosts through a command prefix that takes one shell
command as its last argument, ssh by default:

    scripts/roll --balancer lb.example app1=app1.example app2=app2.example

runs `ssh root@lb.example 'echo ... | socat stdio /run/haproxy/admin.sock'`
and `ssh root@app1.example '... apt-get install -y subsite && subsite migrate && subsite setup'`.
The names before "=" are HAProxy's server names (debian/examples/haproxy.cfg).
Exit status: 0 every host upgraded, 1 a host failed (the roll stopped there),
2 bad arguments.
"""

import argparse
import shlex
import subprocess
import sys
import time

BACKEND = "subsite"
SOCKET = "/run/haproxy/admin.sock"
# On each host: the new release; the schema it needs (the first host migrates
# the shared database, the others find it done); then the app started again
# (`subsite setup`, what the postinst runs: the first host's app could not
# start before the migration).
UPGRADE = ("export DEBIAN_FRONTEND=noninteractive && apt-get update -q && apt-get install -q -y subsite && "
           "subsite migrate && subsite setup")


class RollError(RuntimeError):
    """A step failed; str() says which host and what to do."""


class Balancer:
    """HAProxy's admin socket, reached through RUN (a function taking one shell command)."""

    def __init__(self, run, backend=BACKEND, socket=SOCKET):
        self.run, self.backend, self.socket = run, backend, socket

    def command(self, line):
        return self.run(f"echo {shlex.quote(line)} | socat stdio {shlex.quote(self.socket)}")

    def set_state(self, server, state):
        answer = self.command(f"set server {self.backend}/{server} state {state}").strip()
        if answer:
            raise RollError(f"HAProxy refused to set {self.backend}/{server} to {state}: {answer}")

    def stats(self):
        """{server: its row of `show stat`} for the backend's servers."""
        header, *rows = [line for line in self.command("show stat").splitlines() if line.strip()]
        fields = header.lstrip("# ").split(",")
        found = {}
        for row in rows:
            cells = dict(zip(fields, row.split(",")))
            if cells.get("pxname") == self.backend and cells.get("svname") not in ("FRONTEND", "BACKEND"):
                found[cells["svname"]] = cells
        return found

    def wait(self, server, ready, what, timeout, step=0.2):
        """Poll until READY(row of SERVER) is true; raise RollError after TIMEOUT seconds."""
        deadline = time.monotonic() + timeout
        while True:
            row = self.stats().get(server)
            if row is None:
                raise RollError(f"HAProxy has no server {self.backend}/{server}: check the names given")
            if ready(row):
                return row
            if time.monotonic() > deadline:
                raise RollError(f"{server}: {what} did not happen within {timeout} s "
                                f"(HAProxy says status {row.get('status')}, {row.get('scur')} requests)")
            time.sleep(step)


def roll(balancer, hosts, upgrade=UPGRADE, drain_timeout=90, up_timeout=120, log=print):
    """Upgrade HOSTS ({server: run function}) one by one behind BALANCER; raise RollError on a failure."""
    for server, run in hosts.items():
        balancer.wait(server, lambda r: r["status"].startswith("UP"), "being up before its turn", up_timeout)
        log(f"{server}: draining")
        balancer.set_state(server, "drain")
        balancer.wait(server, lambda r: r["scur"] == "0", "finishing its requests", drain_timeout)
        log(f"{server}: upgrading")
        try:
            run(upgrade)
        except subprocess.CalledProcessError as error:
            raise RollError(f"{server}: the upgrade failed (exit {error.returncode}); it stays drained, "
                            f"the other hosts serve. Fix it, then: set server {balancer.backend}/{server} "
                            f"state ready\n{(error.stderr or '')[-2000:]}") from None
        balancer.set_state(server, "ready")
        balancer.wait(server, lambda r: r["status"].startswith("UP"), "passing HAProxy's health check", up_timeout)
        log(f"{server}: upgraded, back in rotation")


def ssh_runner(prefix, host):
    """A run function: the shell command through PREFIX (e.g. "ssh root@{host}")."""
    words = shlex.split(prefix.format(host=host))

    def run(command):
        return subprocess.run([*words, command], check=True, capture_output=True, text=True).stdout
    return run


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--balancer", required=True, help="the host HAProxy runs on")
    parser.add_argument("hosts", nargs="+", metavar="SERVER=HOST",
                        help="HAProxy's server name and the host to upgrade, in the order to upgrade them")
    parser.add_argument("--via", default="ssh root@{host}",
                        help="command prefix that runs one shell command on {host} (default: %(default)s)")
    parser.add_argument("--backend", default=BACKEND, help="HAProxy's backend (default: %(default)s)")
    parser.add_argument("--socket", default=SOCKET, help="HAProxy's admin socket (default: %(default)s)")
    args = parser.parse_args(argv)
    pairs = [h.partition("=") for h in args.hosts]
    bad = [h for h, (name, sep, host) in zip(args.hosts, pairs) if not (name and sep and host)]
    if bad:
        parser.error(f"write each host as SERVER=HOST (HAProxy's server name, then the host), not {bad[0]!r}")
    args.hosts = {name: host for name, _, host in pairs}
    return args


def main(argv=None):
    args = parse_args(argv)
    balancer = Balancer(ssh_runner(args.via, args.balancer), args.backend, args.socket)
    hosts = {server: ssh_runner(args.via, host) for server, host in args.hosts.items()}
    try:
        roll(balancer, hosts)
    except (RollError, subprocess.CalledProcessError) as error:
        print(f"roll: {error}", file=sys.stderr)
        return 1
    return 0

