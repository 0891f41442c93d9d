"""HTTP load and hostile-input client, run by the host's python inside a machine's netns.

    nsenter --net --target PID /usr/bin/python3 -I loadgen.py < spec.json > result.json

Standard library only; one process, one thread per connection.  The JSON spec
on stdin has a "mode":

load       ``connections`` keep-alive connections for ``duration`` seconds (or
           until SIGTERM/SIGINT), each sending reads and, with probability
           ``write_share``, admin writes (POST <prefix>/admin/api/posts with
           ``cookie`` and ``csrf``).  Prints counts per status class and code,
           socket errors, latencies, and the ids of the posts it created.
raw        ``cases``: bytes sent as-is (``head``, base64) then optionally
           ``body_len`` zero bytes, plain or chunked; prints each status line.
slowloris  ``connections`` sockets sending a request one header line every
           ``interval`` s for ``seconds`` s, while normal GETs of ``probe``
           measure whether the server keeps answering.
"""

import base64
import http.client
import json
import random
import signal
import socket
import sys
import threading
import time
from collections import Counter


def status_class(code):
    return f"{code // 100}xx"


class Load:
    """Shared counters of a load run."""

    def __init__(self, spec):
        self.spec = spec
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.codes = Counter()
        self.errors = Counter()
        self.ops = Counter()
        self.created = []          # [id, title] of every acknowledged write
        self.failures = []         # [seconds since start, op, what] for 5xx and errors
        self.latencies = []
        self.retried = 0           # GETs retried on a new connection after a kept-alive one closed
        self.start = time.monotonic()

    def record(self, op, code, seconds, error=None):
        with self.lock:
            self.ops[op] += 1
            self.latencies.append(seconds)
            if error is not None:
                self.errors[error] += 1
            else:
                self.codes[code] += 1
            if (error is not None or code >= 500) and len(self.failures) < 2000:
                t = round(time.monotonic() - self.start, 3)
                self.failures.append([t, op, error or code])

    def result(self):
        lat = sorted(self.latencies)

        def pct(p):
            return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 1) if lat else None

        elapsed = time.monotonic() - self.start
        classes = Counter()
        for code, n in self.codes.items():
            classes[status_class(code)] += n
        total = sum(self.codes.values()) + sum(self.errors.values())
        return {
            "requests": total,
            "elapsed": round(elapsed, 2),
            "rps": round(total / elapsed, 1) if elapsed else 0,
            "classes": dict(classes),
            "codes": {str(k): v for k, v in sorted(self.codes.items())},
            "errors": dict(self.errors),
            "ops": dict(self.ops),
            "created": self.created,
            "failures": self.failures,
            "keepalive_retries": self.retried,
            "latency_ms": {"p50": pct(0.50), "p99": pct(0.99), "max": pct(1.0)},
        }


def worker(load, number):
    spec = load.spec
    prefix = spec["prefix"]
    rng = random.Random(number)
    conn = None
    sent = 0
    headers = {"Host": spec.get("host_header", "localhost")}
    admin = dict(headers, Cookie=spec.get("cookie", ""), **{"X-CSRF-Token": spec.get("csrf", "")})
    while not load.stop.is_set():
        if spec.get("requests_per_connection") and sent >= spec["requests_per_connection"]:
            break
        source = (spec["source"], 0) if spec.get("source") else None
        if conn is None:
            conn = http.client.HTTPConnection(spec.get("host", "127.0.0.1"), spec.get("port", 80),
                                              timeout=spec.get("timeout", 30), source_address=source)
        write = rng.random() < spec.get("write_share", 0.0)
        if write:
            title = f"{spec.get('tag', 'load')} {number}-{sent}"
            op, method, target = "write", "POST", f"{prefix}/admin/api/posts"
            body = json.dumps({"title": title, "body": "Written under load."})
            hdrs = dict(admin, **{"Content-Type": "application/json"})
        else:
            with load.lock:
                known = load.created[-200:]
            choice = rng.random()
            if known and choice < 0.3:
                op, target = "read-post", f"{prefix}/posts/{rng.choice(known)[0]}"
            elif choice < 0.6:
                op, target = "read-index", f"{prefix}/"
            elif choice < 0.8 and known:
                op, target = "read-api", f"{prefix}/api/posts/{rng.choice(known)[0]}"
            else:
                op, target = "health", f"{prefix}/_health"
            method, body, hdrs = "GET", None, headers
        sent += 1
        t0 = time.monotonic()
        reused = getattr(conn, "used", False)
        try:
            conn.used = True
            conn.request(method, target, body=body, headers=hdrs)
            response = conn.getresponse()
            data = response.read()
            code = response.status
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as error:
            conn.close()
            conn = None
            # As browsers do: a kept-alive connection the server closed as the
            # request went out (nginx closes idle ones on a reload) is retried
            # once on a new connection, for a GET; anything else is a failure.
            if not (reused and method == "GET"):
                load.record(op, 0, time.monotonic() - t0, type(error).__name__)
                continue
            with load.lock:
                load.retried += 1
            try:
                conn = http.client.HTTPConnection(spec.get("host", "127.0.0.1"), spec.get("port", 80),
                                                  timeout=spec.get("timeout", 30), source_address=source)
                conn.used = True
                conn.request(method, target, body=body, headers=hdrs)
                response = conn.getresponse()
                data = response.read()
                code = response.status
            except (OSError, http.client.HTTPException) as error:
                load.record(op, 0, time.monotonic() - t0, type(error).__name__)
                conn.close()
                conn = None
                continue
        except (OSError, http.client.HTTPException) as error:
            load.record(op, 0, time.monotonic() - t0, type(error).__name__)
            conn.close()
            conn = None
            continue
        load.record(op, code, time.monotonic() - t0)
        if write and code == 303:
            post_id = json.loads(data)["id"]
            with load.lock:
                load.created.append([post_id, title])
        if response.will_close:
            conn.close()
            conn = None
    if conn is not None:
        conn.close()


def run_load(spec):
    load = Load(spec)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: load.stop.set())
    threads = [threading.Thread(target=worker, args=(load, n), daemon=True)
               for n in range(spec.get("connections", 64))]
    for t in threads:
        t.start()
    deadline = time.monotonic() + spec.get("duration", 10)
    while not load.stop.is_set() and time.monotonic() < deadline:
        if not any(t.is_alive() for t in threads):
            break
        load.stop.wait(0.1)
    load.stop.set()
    for t in threads:
        t.join()
    return load.result()


def read_status(sock, timeout):
    """Return the status code of the first response on SOCK, or 'closed'/'timeout'/'reset'."""
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        return "timeout"
    except ConnectionResetError:
        if not data:
            return "reset"
    line = data.split(b"\r\n", 1)[0].split()
    if len(line) >= 2 and line[0].startswith(b"HTTP/") and line[1].isdigit():
        return int(line[1])
    return "closed" if not data else f"garbage {data[:60]!r}"


def raw_case(spec, case):
    t0 = time.monotonic()
    sent = 0
    sock = socket.create_connection((spec.get("host", "127.0.0.1"), spec.get("port", 80)), timeout=10)
    try:
        sock.sendall(base64.b64decode(case["head"]))
        body_len = case.get("body_len", 0)
        block = b"\0" * 65536
        try:
            while sent < body_len:
                piece = block[: min(len(block), body_len - sent)]
                if case.get("chunked"):
                    sock.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
                else:
                    sock.sendall(piece)
                sent += len(piece)
            if case.get("chunked"):
                sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server answered and closed before the whole body was sent
        status = read_status(sock, case.get("timeout", 30))
    except OSError as error:
        status = type(error).__name__
    finally:
        sock.close()
    return {"name": case["name"], "status": status, "seconds": round(time.monotonic() - t0, 3),
            "body_sent": sent}


def run_raw(spec):
    return {"cases": [raw_case(spec, case) for case in spec["cases"]]}


def run_slowloris(spec):
    host, port = spec.get("host", "127.0.0.1"), spec.get("port", 80)
    socks = []
    for _ in range(spec["connections"]):
        s = socket.create_connection((host, port), timeout=5)
        s.sendall(f"GET {spec['probe']} HTTP/1.1\r\nHost: localhost\r\n".encode())
        socks.append(s)
    opened = time.monotonic()
    closed_at = {}
    probes = Counter()
    slowest = 0.0
    next_line = opened
    n = 0
    while time.monotonic() - opened < spec["seconds"]:
        if time.monotonic() >= next_line:
            n += 1
            for i, s in enumerate(socks):
                if i in closed_at:
                    continue
                try:
                    s.sendall(f"X-Slow-{n}: {n}\r\n".encode())
                except OSError:
                    closed_at[i] = time.monotonic() - opened
            next_line += spec.get("interval", 2)
        t0 = time.monotonic()
        try:
            c = http.client.HTTPConnection(host, port, timeout=10)
            c.request("GET", spec["probe"], headers={"Host": "localhost"})
            r = c.getresponse()
            r.read()
            probes[str(r.status)] += 1
            c.close()
        except (OSError, http.client.HTTPException) as error:
            probes[type(error).__name__] += 1
        slowest = max(slowest, time.monotonic() - t0)
        time.sleep(0.1)
    # Which slow connections has the server dropped (or answered) by now?
    for i, s in enumerate(socks):
        if i not in closed_at:
            s.setblocking(False)
            try:
                s.recv(4096)               # b"" (closed) or an answer: dropped either way
                closed_at[i] = time.monotonic() - opened
            except BlockingIOError:
                pass                       # still waiting for our headers
            except OSError:
                closed_at[i] = time.monotonic() - opened
        s.close()
    return {"connections": len(socks), "seconds": spec["seconds"], "probes": dict(probes),
            "slowest_probe_ms": round(slowest * 1000, 1), "dropped_by_server": len(closed_at),
            "first_drop_s": round(min(closed_at.values()), 1) if closed_at else None}


def main():
    spec = json.load(sys.stdin)
    modes = {"load": run_load, "raw": run_raw, "slowloris": run_slowloris}
    json.dump(modes[spec["mode"]](spec), sys.stdout)


if __name__ == "__main__":
    main()
