"""The object uWSGI loads: ``mount = <prefix>=subsite.wsgi:application``.

The settings file is /etc/subsite/subsite.ini, or the file named by the
SUBSITE_SETTINGS environment variable. The prefix in it is not read here:
uWSGI's mount passes it in SCRIPT_NAME with every request.
"""

import os

from . import layout, settings
from .admin import create_admin
from .application import make_application
from .frontend import create_frontend


def app_config(values):
    """Return the Flask config that follows from a Settings."""
    return {
        "DATABASE": str(values.database),
        "UPLOADS_DIR": str(values.uploads),
        "TRUSTED_PROXIES": values.trusted_proxies,
        "LOGIN_ATTEMPTS": values.login_attempts,
        "TEST_ENDPOINTS": values.test_endpoints,
    }


def build(path=None):
    """Build the application from the settings file at ``path``."""
    if path is None:
        path = os.environ.get("SUBSITE_SETTINGS") or layout.SETTINGS_FILE
    values = settings.load(path)
    config = app_config(values)
    return make_application(create_frontend(config), create_admin(config), trusted_proxies=values.trusted_proxies)


application = build()
