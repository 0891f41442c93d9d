"""`subsite check`: check the whole chain and print a checklist with a verdict.

Each check prints OK or FAIL; a FAIL says how to fix it. The database and the
images' store are checked as the app's user (checkdata.py). The HTTP checks go
through the package's nginx site and are skipped (SKIP) while it is disabled.
The exit code is 0 when no check fails and 1 otherwise.
"""

import grp
import os
import pwd
import stat

from .. import layout, nginx, services, settings
from . import probe, uwsgi_config
from .checkdata import check_data
from .common import FIX, OK, link_to


def add_parser(subs):
    parser = subs.add_parser("check", help="check settings, services, socket, database, images, nginx "
                                           "and HTTP end to end")
    parser.set_defaults(run=run)


class Checklist:
    def __init__(self):
        self.failed = self.skipped = 0

    def item(self, title, problem, fix=""):
        """Print one line for a check; ``problem`` None means it passed."""
        if problem is None:
            print(f"[ OK ] {title}")
            return True
        self.failed += 1
        print(f"[FAIL] {title}: {problem}")
        if fix:
            print(f"       Try fixing it: {fix}")
        return False

    def skip(self, title, reason):
        """Print one line for a check that does not apply here; it does not fail."""
        self.skipped += 1
        print(f"[SKIP] {title}: {reason}")

    def verdict(self):
        """The last line: whether anything failed, and whether anything was skipped."""
        if self.failed:
            return f"Verdict: {self.failed} check(s) failed."
        return "Verdict: all checks passed." if not self.skipped else "Verdict: no check failed; some were skipped."


def socket_problem(path):
    try:
        info = os.stat(path)
    except OSError as error:
        return f"{path}: {error.strerror}"
    wanted = (layout.WEB_USER, layout.WEB_USER, 0o660)
    found = (pwd.getpwuid(info.st_uid).pw_name, grp.getgrgid(info.st_gid).gr_name, stat.S_IMODE(info.st_mode))
    if not stat.S_ISSOCK(info.st_mode):
        return f"{path} is not a socket"
    if found != wanted:
        return f"{path} is {found[0]}:{found[1]} {found[2]:04o}, expected www-data:www-data 0660"
    return None


def run(args):
    checks = Checklist()
    values = settings_error = None
    try:
        values = settings.load()
        checks.item(f"settings in {layout.SETTINGS_FILE} (prefix {values.prefix or '/'})", None)
    except settings.SettingsError as error:
        checks.item("settings", str(error), "correct that line, then run: service uwsgi restart")
        settings_error = error

    if services.systemd_running():
        enabled = services.systemctl("is-enabled", "--quiet", layout.SYSTEMD_SOCKET)[0]
        checks.item(f"{' and '.join(layout.SYSTEMD_UNITS)} enabled", None if enabled else "they are disabled",
                    "dpkg-reconfigure subsite")
    else:
        checks.item("uWSGI app enabled", None if layout.UWSGI_APP_LINK.exists()
                    else f"{layout.UWSGI_APP_LINK} is missing", "dpkg-reconfigure subsite")
    try:
        uwsgi_config.check_python()
        checks.item("uWSGI's python3 plugin runs the virtualenv's Python", None)
    except uwsgi_config.StartRefused as error:
        checks.item("uWSGI's python3 plugin runs the virtualenv's Python", str(error))
    checks.item("nginx loads only root's files of subsite's", nginx.trust_problem())
    site_enabled = nginx.site_enabled()
    if site_enabled:
        checks.item("nginx site enabled", None)
    else:
        checks.skip("nginx site", f"{layout.NGINX_SITE_LINK} is disabled, so the HTTP checks are skipped: they ask "
                    f"that site. If you did not mean to serve {layout.NGINX_SNIPPET} from your own server block: "
                    f"ln -s {link_to(layout.NGINX_SITE_FILE)} {layout.NGINX_SITE_LINK}; service nginx reload")
    problem = nginx.test_config()
    checks.item("nginx configuration valid (nginx -t)", problem, "fix the file nginx names, then: service nginx reload")
    checks.item("nginx running", None if nginx.running() else "no nginx master process", "service nginx start")
    master = services.uwsgi_master_pid()
    if services.systemd_running():
        checks.item(f"uWSGI app running ({layout.SYSTEMD_SERVICE})", None if master else "it is not running",
                    f"systemctl restart {layout.SYSTEMD_SERVICE}; the reason is in: "
                    f"systemctl status {layout.SYSTEMD_SERVICE}")
    else:
        checks.item("uWSGI app running", None if master else f"no live process in {layout.UWSGI_PIDFILE}",
                    f"service uwsgi restart; the reason is in {layout.UWSGI_LOG}")
    if master:
        workers = services.workers(master)
        root = [pid for pid, uid in workers.items() if uid == 0]
        title = f"uWSGI workers, none as root ({len(workers)} workers)"
        if root:
            checks.item(title, f"workers {root} run as root",
                        "keep uid/gid = www-data in /etc/uwsgi (see /usr/share/uwsgi/conf/default.ini)")
        else:
            checks.item(title, None if workers else "the master has no workers",
                        f"service uwsgi restart; the reason is in {layout.UWSGI_LOG}")
    if values and values.upstream.startswith("unix:"):
        checks.item("socket owner and mode", socket_problem(values.socket), "service uwsgi restart")
    check_data(checks, values, settings_error)

    applied = nginx.applied_prefix()
    if values:
        checks.item("nginx location matches the settings",
                    None if applied == values.prefix else f"nginx serves {applied!r}, the settings say {values.prefix!r}",
                    "service uwsgi restart")
        if site_enabled:
            http_checks(checks, values.prefix)
    print(checks.verdict())
    return OK if not checks.failed else FIX


def http_checks(checks, prefix):
    """Check health, a redirect and a static file through nginx."""
    answer = probe.get(prefix + layout.HEALTH_PATH)
    seen = None
    if answer.status == 200:
        try:
            seen = answer.json().get("script_root")
        except ValueError:
            pass
    problem = None if answer.status == 200 and seen == prefix else (
        f"answered {answer.status or 'nothing'}" + (f", script root {seen!r}" if answer.status == 200 else ""))
    checks.item(f"{prefix}{layout.HEALTH_PATH} through nginx (uWSGI mount agrees)", problem,
                f"service uwsgi restart; then read {layout.UWSGI_LOG}")
    target = f"{prefix}/dir" if prefix else "/dir"
    answer = probe.get(target)
    location = answer.header("location") or ""
    checks.item(f"redirect from {target} stays under the prefix",
                None if answer.status in (301, 302, 303, 307, 308) and location.startswith(f"{prefix}/") else
                f"answered {answer.status or 'nothing'} with Location {location!r}", "service uwsgi restart")
    answer = probe.get(f"{prefix}/static/style.css")
    served_by_nginx = answer.status == 200 and "max-age" in (answer.header("cache-control") or "") \
        and not answer.header("set-cookie")
    checks.item(f"{prefix}/static/style.css served by nginx", None if served_by_nginx else
                f"answered {answer.status or 'nothing'}", "service uwsgi restart (it regenerates nginx's locations)")
