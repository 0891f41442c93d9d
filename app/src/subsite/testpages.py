"""Pages that exist only for the package's soak tests (``test-endpoints = yes``).

With the setting off (the default) nothing is registered, so the URLs 404.
"""

import time

from flask import request

SLEEP_MAX = 3600


def sleep():
    """Answer after ``?seconds=N`` seconds: a stuck request for harakiri to end."""
    seconds = min(request.args.get("seconds", 1.0, type=float), SLEEP_MAX)
    time.sleep(max(seconds, 0.0))
    return {"slept": seconds}, 200, {"Cache-Control": "no-store"}


def init_app(app):
    """Register /_test/sleep when TEST_ENDPOINTS is on."""
    if app.config.get("TEST_ENDPOINTS"):
        app.add_url_rule("/_test/sleep", "test_sleep", sleep)
