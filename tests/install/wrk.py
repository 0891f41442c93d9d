"""Run the host's wrk inside a Machine's network namespace and read its numbers.

wrk's own summary is meant for people; a small Lua ``done()`` hook prints the
totals, error counts and latency percentiles as one JSON line instead.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import tempfile

from machine import CLEAN_ENV

MARK = "WRK-JSON "
DONE_LUA = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%s{"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,'
    .. '"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\\n',
    "MARK", summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(99), latency.max))
end
""".replace("MARK", MARK)


@dataclasses.dataclass
class Result:
    """One wrk run: totals, error counts (wrk's names) and latencies in microseconds."""
    requests: int
    duration_us: int
    bytes: int
    connect: int
    read: int
    write: int
    status: int      # responses that were not 2xx or 3xx
    timeout: int
    p50_us: int
    p99_us: int
    max_us: int

    @property
    def rps(self) -> float:
        return self.requests / (self.duration_us / 1e6) if self.duration_us else 0.0

    @property
    def failures(self) -> int:
        """Requests that did not get a 2xx/3xx answer (socket errors and bad statuses)."""
        return self.connect + self.read + self.write + self.status + self.timeout


def _lua_file() -> str:
    """The done() hook as a file wrk can load; named after its content, so it is written once."""
    digest = hashlib.sha256(DONE_LUA.encode()).hexdigest()[:12]
    path = os.path.join(tempfile.gettempdir(), f"subsite-wrk-done-{digest}.lua")
    if not os.path.exists(path):
        tmp = f"{path}.{os.getpid()}"
        with open(tmp, "w") as fh:
            fh.write(DONE_LUA)
        os.replace(tmp, path)
    return path


def command(pid: int, url: str, connections: int, duration: float, host: str | None = None,
            timeout: float = 5.0, headers=(), cpu: int | None = None) -> list[str]:
    """The wrk command line, run in the network namespace of host process PID.

    HEADERS are extra "Name: value" lines. With CPU, wrk runs on that CPU alone
    (taskset) with one thread; otherwise with 1 thread for 1 connection, else 2.
    """
    threads = 1 if connections == 1 or cpu is not None else 2
    cmd = ["nsenter", "--net", "--target", str(pid), "wrk", "-t", str(threads),
           "-c", str(connections), "-d", f"{max(duration, 1):g}s", "--timeout", f"{timeout:g}s",
           "-s", _lua_file()]
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu), *cmd]
    if host:
        cmd += ["-H", f"Host: {host}"]
    for header in headers:
        cmd += ["-H", header]
    return cmd + [url]


def parse(stdout: str, cmd=None) -> Result:
    """The Result from wrk's output, or AssertionError showing that output."""
    for line in stdout.splitlines():
        if line.startswith(MARK):
            return Result(**json.loads(line[len(MARK):]))
    raise AssertionError(f"no result line in wrk's output ({cmd}):\n{stdout[-2000:]}")


def start(pid: int, url: str, connections: int, duration: float, **kw) -> subprocess.Popen:
    """Start wrk in the background; finish it with ``finish()``."""
    cmd = command(pid, url, connections, duration, **kw)
    return subprocess.Popen(cmd, env=CLEAN_ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def finish(proc: subprocess.Popen, grace: float = 30) -> Result:
    out, _ = proc.communicate(timeout=grace + 60)
    if proc.returncode != 0:
        raise AssertionError(f"wrk exited {proc.returncode}: {proc.args}\n{out[-2000:]}")
    return parse(out, proc.args)


def run(pid: int, url: str, connections: int, duration: float, **kw) -> Result:
    """Run wrk against URL from inside the namespace of host process PID; return its Result."""
    return finish(start(pid, url, connections, duration, **kw))
