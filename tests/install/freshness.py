"""Writers and readers in a tight loop: is every acknowledged write on the very next read of every page?

    nsenter --net --target PID /usr/bin/python3 -I freshness.py < spec.json > result.json

Run by the host's python inside a machine's network namespace; standard
library only. The spec: ``prefix``, ``cookie`` and ``csrf`` (a logged-in
admin's), ``writers`` and ``readers`` (connections each), ``seconds``.

Each writer posts through the admin API; a write counts as acknowledged when
its 303 has been read. Each reader, in a loop, notes the newest acknowledged
write, then asks for one page (the front page, the API's first page, or that
post's page) and checks that the page is at least as new as that write: a read
that started after the acknowledgement must see it. That post's page must
show it; the front page and the API, which list the newest posts first, must
show it or a later one as their newest (ids grow in the order of the
commits). Not that post itself: while a read waits, later writes may push it
off the page (three writers posted some 160 a second: a read that waits an
eighth of a second for a worker sees 20 of them). Every read that does not is a stale read, reported
with the newest id it showed and the start of what it got.
"""

import http.client
import json
import re
import sys
import threading
import time


class Run:
    def __init__(self, spec):
        self.spec = spec
        self.lock = threading.Lock()
        self.acked = []            # (id, title) in the order acknowledged
        self.stop = threading.Event()
        self.reads = {"front": 0, "api": 0, "post": 0}
        self.writes = 0
        self.stale = []
        self.pushed_off = 0        # fresh reads on which later writes had pushed the post off the page
        self.errors = []

    def newest(self):
        with self.lock:
            return self.acked[-1] if self.acked else None


def connect():
    return http.client.HTTPConnection("127.0.0.1", 80, timeout=30)


def writer(run, number):
    spec, conn, sent = run.spec, connect(), 0
    headers = {"Host": "localhost", "Cookie": spec["cookie"], "X-CSRF-Token": spec["csrf"],
               "Content-Type": "application/json"}
    while not run.stop.is_set():
        title = f"fresh {number}-{sent}"
        sent += 1
        try:
            conn.request("POST", f"{spec['prefix']}/admin/api/posts", body=json.dumps({"title": title, "body": "b"}),
                         headers=headers)
            answer = conn.getresponse()
            data = answer.read()
        except (OSError, http.client.HTTPException) as error:
            run.errors.append(f"write: {error!r}")
            conn.close()
            conn = connect()
            continue
        if answer.status != 303:
            run.errors.append(f"write: {answer.status} {data[:200]!r}")
            continue
        with run.lock:
            run.acked.append((json.loads(data)["id"], title))
            run.writes += 1


# The front page's newest post (templates/frontend/index.html).
NEWEST = re.compile(r'data-newest="(\d+)"')


def newest_shown(kind, body):
    """The id of the newest post on a front page or an API page (kind "front", "api"), or None."""
    if kind == "api":
        return max((post["id"] for post in json.loads(body)), default=None)
    found = NEWEST.search(body)
    return int(found.group(1)) if found else None


def reader(run, number):
    spec, conn, turn = run.spec, connect(), number
    while not run.stop.is_set():
        seen = run.newest()
        if seen is None:
            time.sleep(0.001)
            continue
        post_id, title = seen
        kind = ("front", "api", "post")[turn % 3]
        turn += 1
        target = {"front": f"{spec['prefix']}/", "api": f"{spec['prefix']}/api/posts",
                  "post": f"{spec['prefix']}/posts/{post_id}"}[kind]
        try:
            conn.request("GET", target, headers={"Host": "localhost"})
            answer = conn.getresponse()
            body = answer.read().decode("utf-8", "replace")
        except (OSError, http.client.HTTPException) as error:
            run.errors.append(f"read {target}: {error!r}")
            conn.close()
            conn = connect()
            continue
        newest = newest_shown(kind, body) if answer.status == 200 and kind != "post" else None
        shown = answer.status == 200 and (title in body if kind == "post" else (newest or 0) >= post_id)
        with run.lock:
            run.reads[kind] += 1
            run.pushed_off += shown and kind != "post" and title not in body
            if not shown and len(run.stale) < 20:
                run.stale.append({"read": target, "after": [post_id, title], "status": answer.status,
                                  "newest": newest, "got": body[:300]})
            elif not shown:
                run.stale.append(None)


def main():
    spec = json.load(sys.stdin)
    run = Run(spec)
    threads = [threading.Thread(target=writer, args=(run, n), daemon=True) for n in range(spec["writers"])]
    threads += [threading.Thread(target=reader, args=(run, n), daemon=True) for n in range(spec["readers"])]
    for thread in threads:
        thread.start()
    time.sleep(spec["seconds"])
    run.stop.set()
    for thread in threads:
        thread.join(60)
    json.dump({"writes": run.writes, "reads": run.reads, "stale": len(run.stale), "pushed_off": run.pushed_off,
               "stale_examples": [s for s in run.stale if s][:5], "errors": run.errors[:20]}, sys.stdout)


if __name__ == "__main__":
    main()
