"""Requests to the local nginx, the way a browser on the server would send them."""

import http.client
import json
import time

from .. import layout, nginx


class Answer:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def header(self, name):
        return self.headers.get(name.lower())

    def json(self):
        return json.loads(self.body)


def get(path, host="localhost", timeout=5):
    """GET ``path`` from nginx on this machine; return an Answer (status 0 when unreachable)."""
    port = nginx.listen_port()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path or "/", headers={"Host": f"{host}:{port}" if port != 80 else host})
        response = connection.getresponse()
        headers = {}
        for name, value in response.getheaders():
            headers.setdefault(name.lower(), value)
        return Answer(response.status, headers, response.read())
    except OSError as error:
        return Answer(0, {}, str(error).encode())
    finally:
        connection.close()


def wait_for_health(prefix, seconds=10):
    """Poll the probe (layout.HEALTH_PATH) under ``prefix`` until it answers 200 with that script root; return the last Answer."""
    deadline = time.monotonic() + seconds
    while True:
        answer = get(prefix + layout.HEALTH_PATH)
        if answer.status == 200:
            try:
                if answer.json().get("script_root") == prefix:
                    return answer
            except ValueError:
                pass
        if time.monotonic() > deadline:
            return answer
        time.sleep(0.2)
