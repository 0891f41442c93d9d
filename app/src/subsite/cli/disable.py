"""`subsite disable`: what the prerm runs on remove.

It stops the uWSGI app and takes it and the nginx site out of service; nginx
is reloaded only after its test passes. Settings and data are kept. nginx's
page cache goes too (`subsite setup` brings it back).
"""

from .. import layout, nginx, services
from .common import OK, warn


def add_parser(subs):
    parser = subs.add_parser("disable", help="stop the app and disable it in uWSGI and nginx (run by the prerm)")
    parser.set_defaults(run=run)


def run(args):
    if services.systemd_running():
        ok, output = services.app("stop")
        if not ok:
            warn(f"stopping {' and '.join(layout.SYSTEMD_UNITS)} failed: {output}")
        services.enable_units("disable")
    if layout.UWSGI_APP_LINK.exists() or services.init_script_master_pid():
        # Without systemd; or an instance release 1.0.0 started before systemd's units took over.
        services.invoke("uwsgi", "stop", layout.NAME)
    layout.UWSGI_APP_LINK.unlink(missing_ok=True)
    layout.NGINX_SITE_LINK.unlink(missing_ok=True)
    nginx.drop_cache()
    problem = nginx.test_config()
    if problem:
        warn(f"nginx's configuration fails its test, so it was not reloaded:\n{problem}")
    else:
        nginx.reload()
    return OK
