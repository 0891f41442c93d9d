"""Pages that exist only for the package's soak tests (``test-endpoints = yes``).

With the setting off (the default) nothing is registered, so the URLs 404.
Besides /_test/sleep, a public page asked for with ``?test-set-cookie=NAME``
sets the cookie NAME, as no public page does: the install tests check that
nginx never keeps such an answer in its page cache.
"""

import math
import re
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


# A cookie name the tests use: letters, digits, - and _.
COOKIE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def set_cookie(response):
    """Set the cookie ?test-set-cookie= names, whatever the page."""
    name = request.args.get("test-set-cookie", "")
    if COOKIE_NAME.fullmatch(name):
        response.set_cookie(name, "set-by-a-test", httponly=True, samesite="Lax")
    return response


def init_app(app):
    """Register /_test/sleep and ?test-set-cookie= when TEST_ENDPOINTS is on."""
    if app.config.get("TEST_ENDPOINTS"):
        app.add_url_rule("/_test/sleep", "test_sleep", sleep)
        app.after_request(set_cookie)
