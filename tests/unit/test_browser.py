"""The pages work in a real browser under the Content-Security-Policy.

The app is served by Werkzeug's development server on 127.0.0.1 under a
prefix, as uWSGI mounts it, and Debian's headless Chromium is driven through
its DevTools protocol (over --remote-debugging-pipe, so no port is opened)
through the front page, a post with an image, the admin login, writing a
post with the form, and logout; and through the front page's "new" badges,
which its script (static/seen.js) adds from what the browser saw before. Every policy violation Chromium reports
(report-uri, added to the app's policy here) fails the test; a page that
breaks the policy on purpose shows that reports do arrive. Chromium is given
flags that keep it from contacting anything but 127.0.0.1.

Skipped when /usr/bin/chromium is absent (apt-get install chromium).
"""

import json
import os
import queue
import struct
import subprocess
import threading
import time
import zlib
from pathlib import Path

import pytest
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from support import PASSWORD
from subsite.application import make_application
from subsite.base import CONTENT_SECURITY_POLICY

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (apt-get install chromium)")

PREFIX = "/board"
REPORTS = "/csp-reports"
# Headless, and nothing that phones home: no updates, sync, metrics, safe
# browsing lists or DNS; any host name but 127.0.0.1 fails to resolve.
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
    "--disable-default-apps", "--disable-extensions", "--disable-domain-reliability", "--disable-breakpad",
    "--metrics-recording-only", "--no-proxy-server", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
TIMEOUT = 15


def png():
    """Return a valid 1x1 PNG image, which the browser must be able to show."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
            + chunk(b"IEND", b""))


class Site:
    """The application under PREFIX, with report-uri in its policy, and the test's own pages beside it."""

    def __init__(self, application):
        self.reports = []
        self.app = DispatcherMiddleware(self.own_pages, {PREFIX: self.reporting(application)})

    def reporting(self, application):
        def app(environ, start_response):
            def start(status, headers, exc_info=None):
                headers = [(name, f"{value}; report-uri {REPORTS}" if name == "Content-Security-Policy" else value)
                           for name, value in headers]
                return start_response(status, headers, exc_info)
            return application(environ, start)
        return app

    @Request.application
    def own_pages(self, request):
        if request.path == REPORTS and request.method == "POST":
            self.reports.append(json.loads(request.get_data()))
            return Response(status=204)
        if request.path == "/breaks-the-policy":
            # Inline script and style, which the app's policy must refuse.
            page = '<!doctype html><style>p { color: red }</style><p style="color: red">x</p><script>1</script>'
            return Response(page, mimetype="text/html",
                            headers={"Content-Security-Policy": f"{CONTENT_SECURITY_POLICY}; report-uri {REPORTS}"})
        if request.path == "/frames-the-board":
            return Response(f'<!doctype html><iframe src="{PREFIX}/"></iframe>', mimetype="text/html")
        return Response(status=404)


class DevTools:
    """Chromium driven over its DevTools protocol: JSON messages ending in NUL, on the child's fds 3 and 4."""

    def __init__(self, profile, log):
        to_chrome, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome = os.pipe()

        def pipes_on_3_and_4():
            os.dup2(to_chrome, 3)
            os.dup2(from_chrome, 4)

        self.process = subprocess.Popen(
            [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, pass_fds=(3, 4), preexec_fn=pipes_on_3_and_4)
        os.close(to_chrome)
        os.close(from_chrome)
        self._messages = queue.Queue()
        self._next_id = 0
        self.events = []
        threading.Thread(target=self._read, daemon=True).start()
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")

    def _read(self):
        buffer = b""
        with open(self._from_chrome, "rb", buffering=0) as pipe:
            while chunk := pipe.read(1 << 16):
                *messages, buffer = (buffer + chunk).split(b"\0")
                for message in messages:
                    self._messages.put(json.loads(message))
        self._messages.put(None)

    def _receive(self, deadline):
        try:
            message = self._messages.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise TimeoutError("Chromium did not answer in time") from None
        if message is None:
            raise EOFError("Chromium closed its DevTools pipe")
        return message

    def send(self, method, params=None):
        """Run a DevTools command (in the page, once attached) and return its result."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if getattr(self, "session", None):
            message["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT
        while True:
            answer = self._receive(deadline)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer["result"]
            if "method" in answer:
                self.events.append(answer)

    def wait_for(self, method):
        """Return the first event ``method`` that came since the last action, waiting for it if need be."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            for event in self.events:
                if event["method"] == method:
                    self.events.remove(event)
                    return event
            answer = self._receive(deadline)
            if "method" in answer:
                self.events.append(answer)

    def evaluate(self, expression):
        """Return the value of ``expression`` evaluated in the page."""
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def _loading(self, action):
        self.events = [event for event in self.events if event["method"] == "Log.entryAdded"]
        action()
        self.wait_for("Page.loadEventFired")
        return self.evaluate("location.pathname + location.search")

    def open(self, url):
        """Load ``url``; return the path the browser ended at."""
        return self._loading(lambda: self.send("Page.navigate", {"url": url}))

    def submit(self, selector):
        """Click the button ``selector`` and wait for the page the form leads to; return its path."""
        return self._loading(lambda: self.evaluate(f"document.querySelector({json.dumps(selector)}).click()"))

    def fill(self, selector, value):
        self.evaluate(f"document.querySelector({json.dumps(selector)}).value = {json.dumps(value)}")

    def choose_file(self, selector, path):
        root = self.send("DOM.getDocument")["root"]["nodeId"]
        node = self.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        self.send("DOM.setFileInputFiles", {"nodeId": node, "files": [str(path)]})

    def console_errors(self):
        return [event["params"]["entry"]["text"] for event in self.events
                if event["method"] == "Log.entryAdded" and event["params"]["entry"]["level"] == "error"]

    def close(self):
        try:
            self.send("Browser.close")
        except (RuntimeError, EOFError, TimeoutError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_chrome)


@pytest.fixture
def served(frontend, admin):
    """The site on 127.0.0.1 in a thread; yields (base URL, Site)."""
    site = Site(make_application(frontend, admin))
    server = make_server("127.0.0.1", 0, site.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", site
    server.shutdown()
    thread.join()
    server.server_close()


@pytest.fixture
def browser(tmp_path):
    with open(tmp_path / "chromium.log", "wb") as log:
        devtools = DevTools(tmp_path / "profile", log)
        yield devtools
        devtools.close()


def styled(browser):
    """Tell whether the page has the stylesheet applied (the paper background, the flex header)."""
    return browser.evaluate("[getComputedStyle(document.body).backgroundColor,"
                            " getComputedStyle(document.querySelector('header.site')).display]") == \
        ["rgb(251, 251, 250)", "flex"]


def images_shown(browser):
    return browser.evaluate("Array.from(document.images, image => image.complete && image.naturalWidth)")


def test_pages_work_under_the_policy(served, browser, tmp_path):
    url, site = served
    image = tmp_path / "notice.png"
    image.write_bytes(png())

    assert browser.open(f"{url}{PREFIX}/") == f"{PREFIX}/"
    assert styled(browser)

    assert browser.open(f"{url}{PREFIX}/admin/") == f"{PREFIX}/admin/login?next={PREFIX}/admin/"
    assert styled(browser)
    browser.fill("#password", PASSWORD)
    assert browser.submit("form[action$='/admin/login'] button") == f"{PREFIX}/admin/"

    assert browser.open(f"{url}{PREFIX}/admin/posts/new") == f"{PREFIX}/admin/posts/new"
    browser.fill("#title", "Seen in a browser")
    browser.fill("#body", "With an image.")
    browser.choose_file("#image", image)
    post = browser.submit("form[action$='/admin/posts/new'] button[type=submit]")
    assert post.startswith(f"{PREFIX}/posts/")
    assert browser.evaluate("document.querySelector('h1').textContent") == "Seen in a browser"
    assert images_shown(browser) == [1]
    assert styled(browser)

    assert browser.open(f"{url}{PREFIX}/") == f"{PREFIX}/"
    assert images_shown(browser) == [1]

    assert browser.open(f"{url}{PREFIX}/admin/") == f"{PREFIX}/admin/"
    assert images_shown(browser) == [1]
    assert browser.submit("form[action$='/admin/logout'] button") == f"{PREFIX}/admin/login"
    assert browser.open(f"{url}{PREFIX}/admin/").startswith(f"{PREFIX}/admin/login")

    time.sleep(0.3)  # reports are sent after the page, without waiting
    assert site.reports == []
    assert not [text for text in browser.console_errors() if "Content Security Policy" in text]


def badges(browser):
    """The ids of the posts the page marks as new."""
    return browser.evaluate("Array.from(document.querySelectorAll('article .badge'),"
                            " badge => Number(badge.closest('article').dataset.id))")


def seen(browser):
    return browser.evaluate(f"localStorage.getItem('subsite.seen {PREFIX}/')")


def test_the_browser_marks_the_posts_added_since_its_last_visit(served, browser, add_post):
    url, site = served
    first, second = add_post("First"), add_post("Second")
    assert browser.open(f"{url}{PREFIX}/") == f"{PREFIX}/"
    assert badges(browser) == [], "a first visit marks nothing"
    assert seen(browser) == str(second)

    third, fourth = add_post("Third"), add_post("Fourth")
    # A later page marks what is new on it, and records nothing.
    assert browser.open(f"{url}{PREFIX}/?before={fourth}") == f"{PREFIX}/?before={fourth}"
    assert badges(browser) == [third]
    assert seen(browser) == str(second)

    browser.open(f"{url}{PREFIX}/")
    assert badges(browser) == [fourth, third]
    assert browser.evaluate("document.querySelector('article .badge').parentElement.tagName") == "H2"
    assert seen(browser) == str(fourth)
    browser.open(f"{url}{PREFIX}/")
    assert badges(browser) == [], "seen on the last visit"

    # The same page for everyone: another browser's first visit marks nothing.
    browser.evaluate("localStorage.clear()")
    browser.open(f"{url}{PREFIX}/")
    assert badges(browser) == [] and seen(browser) == str(fourth)

    time.sleep(0.3)  # reports are sent after the page, without waiting
    assert site.reports == []
    assert not browser.console_errors()


def test_violations_are_reported(served, browser):
    """The check above can fail: a page that breaks the policy, and one that frames the board, are reported."""
    url, site = served
    browser.open(f"{url}/breaks-the-policy")
    browser.open(f"{url}/frames-the-board")
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        directives = {report["csp-report"]["violated-directive"].split()[0] for report in site.reports}
        if {"script-src-elem", "style-src-elem", "style-src-attr", "frame-ancestors"} <= directives:
            break
        time.sleep(0.05)
    assert {"script-src-elem", "style-src-elem", "style-src-attr", "frame-ancestors"} <= directives, site.reports
    assert browser.evaluate("document.querySelector('iframe').contentDocument") is None
