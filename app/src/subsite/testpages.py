"""Pages that exist only for the package's soak tests (``test-endpoints = yes``).

With the setting off (the default) nothing is registered, so the URLs 404.
"""

import math
import time

from flask import request

SLEEP_MAX = 3600


def seconds(value):
    """Return the query argument ``value`` as seconds, 0 to SLEEP_MAX; raise ValueError if it is no number."""
    number = float(value)
    # float() takes "nan", on which time.sleep() fails (a 500); min() and max() would keep it.
    if math.isnan(number):
        raise ValueError("not a number")
    return min(max(number, 0.0), SLEEP_MAX)


def sleep():
    """Answer after ``?seconds=N`` seconds: a stuck request for harakiri to end."""
    slept = request.args.get("seconds", 1.0, type=seconds)
    time.sleep(slept)
    return {"slept": slept}, 200, {"Cache-Control": "no-store"}


def init_app(app):
    """Register /_test/sleep when TEST_ENDPOINTS is on."""
    if app.config.get("TEST_ENDPOINTS"):
        app.add_url_rule("/_test/sleep", "test_sleep", sleep)
