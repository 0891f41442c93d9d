"""The slow test page exists only with test-endpoints = yes."""

import time


def test_off_by_default(client):
    assert client.get("/_test/sleep?seconds=0").status_code == 404


def test_sleep_when_switched_on(make_client):
    client = make_client(TEST_ENDPOINTS=True)
    start = time.monotonic()
    answer = client.get("/_test/sleep?seconds=0.2")
    assert answer.status_code == 200 and answer.json == {"slept": 0.2}
    assert time.monotonic() - start >= 0.2
