"""The slow test page and the test cookie exist only with test-endpoints = yes."""

import time

import pytest

from support import set_cookie
from subsite import testpages


def test_off_by_default(client):
    assert client.get("/_test/sleep?seconds=0").status_code == 404
    assert "Set-Cookie" not in client.get("/?test-set-cookie=x").headers


def test_a_public_page_sets_the_test_cookie_when_asked(make_client):
    # For the install tests: nginx must never keep such an answer in its page cache.
    answer = make_client(TEST_ENDPOINTS=True).get("/?test-set-cookie=probe")
    assert answer.status_code == 200 and set_cookie(answer, "probe")["value"] == "set-by-a-test"
    assert "X-Accel-Expires" in answer.headers, "marked like any public page: only the cookie keeps it out"


def test_sleep_when_switched_on(make_client):
    client = make_client(TEST_ENDPOINTS=True)
    start = time.monotonic()
    answer = client.get("/_test/sleep?seconds=0.2")
    assert answer.status_code == 200 and answer.json == {"slept": 0.2}
    assert time.monotonic() - start >= 0.2


@pytest.mark.parametrize(
    ("value", "slept"),
    [("0", 0.0), ("-5", 0.0), ("inf", 3600.0), ("1e309", 3600.0), ("-inf", 0.0), ("nan", 1.0), ("x", 1.0), ("", 1.0)],
)
def test_seconds_are_bounded(make_client, monkeypatch, value, slept):
    asked = []
    monkeypatch.setattr(testpages.time, "sleep", asked.append)
    answer = make_client(TEST_ENDPOINTS=True).get("/_test/sleep", query_string={"seconds": value})
    assert answer.status_code == 200 and asked == [slept]
