"""Every route of both apps, with hostile values in every parameter: never a 5xx, nothing logged at ERROR.

The routes come from the apps' url_maps and the query and form parameters
from what the views read during a first crawl, so a new route or parameter
is fuzzed without touching this file.
"""

import io
import json
import logging
import re
from pathlib import Path
from urllib.parse import quote

import pytest
from flask import Request, current_app, has_request_context, request
from werkzeug.datastructures import ImmutableMultiDict

from support import PASSWORD, MountedClient, csrf_token
from subsite import testpages
from subsite.admin import create_admin
from subsite.application import make_application
from subsite.frontend import create_frontend
from subsite.settings import Rate

pytest.importorskip("hypothesis", reason="hypothesis is not installed (scripts/test installs it)")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

PREFIX = "/subsite"
MOUNTS = {"frontend": "", "admin": "/admin"}

# Values that have broken web apps: huge and negative numbers, floats, empty,
# NUL, other scripts' digits, escapes, traversal, very long strings.
EDGES = [
    "", "0", "-1", "9" * 20, str(2**63), str(2**63 - 1), str(-(2**63) - 1), "9" * 5000, "1" * 4301,
    "1e309", "-1e309", "nan", "-nan", "inf", "-inf", "-0", "1.5", "1e3", "0x10", "1_000", " 1", "+1", "1 ",
]
HOSTILE = [
    "1", "\x00", "a\x00b", "%00", "%", "%ff%fe", "%2e%2e", "..", "../../../etc/passwd", "/", "//evil.test", "\\",
    "\u0661\u0662", "\uff11", "\U0001d7d9", "é", "\u202e", "\ufeff", "<script>", "'\"", "\r\n", "?x=1", "#f",
    "a" * 10000, "[]", "{}", "null", "true",
]
NUMBERS = st.one_of(
    st.integers(),
    st.integers(min_value=2**63 - 2, max_value=2**64),           # around SQLite's largest INTEGER
    st.integers(min_value=-(2**64), max_value=-(2**63) + 2),
    st.integers(min_value=10**19, max_value=10**400),
).map(str)
VALUES = st.one_of(st.sampled_from(EDGES), st.sampled_from(HOSTILE), NUMBERS, st.floats().map(repr),
                   st.text(max_size=40))
# Mostly with the session's CSRF token, so the fuzzed values reach the admin's views.
REAL_TOKEN = st.sampled_from([True, True, True, False])
# How a value goes into the URL: every byte escaped, or as it is where the URL allows.
ENCODINGS = (lambda v: quote(v, safe=""), lambda v: quote(v, safe="/%:@!$&'()*+,;="))
METHODS_WITH_BODY = {"POST", "PUT", "PATCH", "DELETE"}


class RecordingDict(ImmutableMultiDict):
    """Query and form data that note every name a view asks for, by (app, endpoint)."""

    names = {}

    def _note(self, key):
        if has_request_context():
            where = (current_app.name.rpartition(".")[2], request.endpoint)
            self.names.setdefault(where, set()).add(key)

    def __getitem__(self, key):
        self._note(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        self._note(key)
        return super().__contains__(key)

    def getlist(self, key, type=None):
        self._note(key)
        return super().getlist(key, type)


class RecordingRequest(Request):
    parameter_storage_class = RecordingDict


class ErrorLog(logging.Handler):
    """Keep every record at ERROR or above."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.records = []

    def emit(self, record):
        self.records.append(record)


def config_for(folder):
    """Return the config of an app with every route switched on (test pages too) and no login limit."""
    return {
        "SECRET_KEY": "fuzz",
        "DATABASE": str(folder / "subsite.db"),
        "UPLOADS_DIR": str(folder / "uploads"),
        "PASSWORD_FILE": str(folder / "admin-password"),
        # Fuzzed logins would soon be refused, and the fuzzer locked out.
        "LOGIN_ATTEMPTS": Rate(0, 1),
        "LOGIN_ATTEMPTS_TOTAL": Rate(0, 1),
        "TEST_ENDPOINTS": True,
    }


def make_apps(config):
    return {"frontend": create_frontend(config), "admin": create_admin(config)}


# Every (app, endpoint) of both apps, read from their url_maps when the tests are collected.
ROUTES = [
    (name, rule.endpoint)
    for name, app in make_apps(config_for(Path("/nonexistent"))).items()
    for rule in app.url_map.iter_rules()
]


@pytest.fixture(scope="module")
def site(tmp_path_factory, password_hash):
    """The application, its rules by (app, endpoint), and the names its views read."""
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "admin-password").write_text(password_hash + "\n")
    apps = make_apps(config_for(folder))
    for app in apps.values():
        app.request_class = RecordingRequest
    application = make_application(apps["frontend"], apps["admin"])
    rules = {(name, rule.endpoint): rule for name, app in apps.items() for rule in app.url_map.iter_rules()}
    with pytest.MonkeyPatch.context() as patch:
        # The test page sleeps for ?seconds=; check the bound instead of waiting.
        patch.setattr(testpages.time, "sleep", check_sleep)
        yield {"application": application, "rules": rules, "names": discover(application, rules)}


def check_sleep(seconds):
    assert 0 <= seconds <= testpages.SLEEP_MAX, seconds


def path_of(name, rule, values):
    """Return the path under the prefix that reaches ``rule`` with ``values`` (already encoded) in its arguments."""
    path = re.sub(r"<(?:[^<>:]+:)?([^<>:]+)>", lambda m: values[m[1]], rule.rule)
    return MOUNTS[name] + path


class Session:
    """A client that is logged in, or not, as the test asks."""

    def __init__(self, application, logged_in):
        self.client = MountedClient(application, PREFIX)
        self.logged_in = logged_in
        self.token = None

    def ready(self):
        """Log in again if a fuzzed request logged out; return the CSRF token."""
        if self.logged_in:
            answer = self.client.get("/admin/api/csrf")
            if answer.status_code != 200:
                page = self.client.get("/admin/login")
                form = {"password": PASSWORD, "csrf_token": csrf_token(page.text)}
                assert self.client.post("/admin/login", data=form).status_code == 303
                answer = self.client.get("/admin/api/csrf")
            self.token = answer.json["csrf_token"]
        elif self.token is None:
            self.token = csrf_token(self.client.get("/admin/login").text)
        return self.token


def discover(application, rules):
    """Return {(app, endpoint): names its view reads}, crawling every route logged in until no new name turns up."""
    session = Session(application, logged_in=True)
    for _ in range(4):
        before = {where: set(names) for where, names in RecordingDict.names.items()}
        every = set().union(*RecordingDict.names.values())
        for (name, _), rule in rules.items():
            for method in sorted(rule.methods):
                token = session.ready()
                # Plausible values reach further into a view (past "a post needs a title").
                fields = {field: "1" for field in every}
                path = path_of(name, rule, {argument: "1" for argument in rule.arguments})
                data = {**fields, "csrf_token": token} if method in METHODS_WITH_BODY else None
                session.client.open(path, method=method, query_string=fields, data=data)
        if RecordingDict.names == before:
            break
    return {where: sorted(names) for where, names in RecordingDict.names.items()}


@st.composite
def requests(draw, rule, own, every):
    """Draw (method, path arguments, query, body) for ``rule`` with hostile values.

    The parameters are mostly those its view reads (``own``), some of any view's (``every``).
    """
    method = draw(st.sampled_from(sorted(rule.methods)))
    encode = draw(st.sampled_from(ENCODINGS))
    arguments = {argument: encode(draw(VALUES)) for argument in rule.arguments}
    chosen = draw(st.lists(st.sampled_from(own), unique=True, max_size=len(own))) if own else []
    chosen += draw(st.lists(st.sampled_from(every), unique=True, max_size=2))
    query = "&".join(f"{quote(field)}={encode(draw(VALUES))}" for field in chosen if draw(st.booleans()))
    body = None
    if method in METHODS_WITH_BODY:
        fields = {field: draw(VALUES) for field in chosen}
        kind = draw(st.sampled_from(["form", "multipart", "json", "raw"]))
        if kind == "multipart":
            for field in list(fields):
                if draw(st.booleans()):
                    fields[field] = (io.BytesIO(draw(st.binary(max_size=64))), fields[field] or "f")
        elif kind == "json":
            body = {"data": json.dumps(fields), "content_type": "application/json"}
        elif kind == "raw":
            body = {"data": draw(st.binary(max_size=200)), "content_type": draw(st.sampled_from(
                ["application/json", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                 "text/plain"]))}
        if body is None:
            body = {"data": fields, "content_type": "multipart/form-data" if kind == "multipart" else None}
        body["real_token"] = draw(REAL_TOKEN)
    return method, arguments, query, body


def test_every_route_and_parameter_is_fuzzed(site):
    assert sorted(site["rules"]) == sorted(ROUTES)
    names = site["names"]
    # test-set-cookie: every public page reads it, with test-endpoints = yes (testpages.py).
    assert names["frontend", "index"] == ["before", "test-set-cookie"]
    assert names["frontend", "test_sleep"] == ["seconds", "test-set-cookie"]
    assert names["admin", "diagnostics"] == ["format"]
    assert {"next", "password"} <= set(names["admin", "login"])
    assert {"title", "body", "remove_image", "image"} <= set(names["admin", "new_post"])


@pytest.mark.parametrize("logged_in", [False, True], ids=["anonymous", "logged-in"])
@pytest.mark.parametrize(("name", "endpoint"), ROUTES, ids=[f"{name}.{endpoint}" for name, endpoint in ROUTES])
def test_no_route_answers_5xx_or_logs_an_error(site, name, endpoint, logged_in):
    rule = site["rules"][name, endpoint]
    session = Session(site["application"], logged_in)
    errors = ErrorLog()

    every = sorted(set().union(*site["names"].values()))

    @settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(requests(rule, site["names"].get((name, endpoint), []), every))
    def check(request):
        method, arguments, query, body = request
        token = session.ready()
        path = path_of(name, rule, arguments)
        kwargs = {"method": method, "query_string": query}
        if body is not None:
            data = body["data"]
            if isinstance(data, dict) and body["real_token"]:
                data = {**data, "csrf_token": token}
            headers = {"X-CSRF-Token": token} if body["real_token"] else {}
            kwargs.update(data=data, headers=headers)
            if body["content_type"]:
                kwargs["content_type"] = body["content_type"]
        answer = session.client.open(path, **kwargs)
        assert answer.status_code < 500, (method, path, query, answer.status_code)
        assert not errors.records, [record.getMessage() for record in errors.records]

    root = logging.getLogger()
    root.addHandler(errors)
    try:
        check()
    finally:
        root.removeHandler(errors)
