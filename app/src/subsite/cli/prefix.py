"""`subsite prefix [NEW]`: print the prefix in force, or move the app to NEW.

A move validates NEW, writes it to the settings file, restarts the uWSGI app
(whose start brings nginx along), and checks NEW/_health through nginx (through
the shipped site; when the admin disabled it, the check is theirs). If any
step fails, the old settings are written back and applied again.
"""

from .. import layout, nginx, prefix, services, settings
from . import probe
from .common import OK, Refused, write_file


def add_parser(subs):
    parser = subs.add_parser("prefix", help="print the URL prefix in force, or change it")
    parser.add_argument("new", nargs="?", help='the new prefix, such as /board or "" for the site root')
    parser.set_defaults(run=run)


def show():
    in_force = nginx.applied_prefix()
    try:
        wanted = settings.load().prefix
    except settings.SettingsError as error:
        raise Refused(str(error)) from None
    shown = in_force if in_force is not None else wanted
    print(shown or "/")
    if in_force is not None and wanted != in_force:
        print(f"({layout.SETTINGS_FILE} says {wanted or '/'}; run 'service uwsgi restart' to apply it)")
    return OK


def run(args):
    if args.new is None:
        return show()
    try:
        new = prefix.normalize(args.new)
    except prefix.PrefixError as error:
        raise Refused(f"the prefix {args.new!r} is refused: {error}. Nothing was changed.") from None
    path = layout.SETTINGS_FILE
    try:
        old_text = settings.read(path)
        old = settings.parse(old_text, path)
    except settings.SettingsError as error:
        raise Refused(f"{error}\nFix the file first; nothing was changed.") from None
    new_text = settings.with_prefix(old_text, new)
    write_file(path, new_text)
    problem = apply(new)
    if problem is None:
        print(f"The app now answers under {new}/ (links under the old prefix {old.prefix}/ answer 404).")
        if not nginx.site_enabled():
            print(f"{layout.NGINX_SITE_LINK} is disabled, so this was not checked through nginx: "
                  f"check {new}{layout.HEALTH_PATH} on the server block that includes {layout.NGINX_SNIPPET}.")
        return OK
    write_file(path, old_text)
    back = apply(old.prefix)
    tail = "The old prefix is back in force." if back is None else f"Rolling back failed too: {back}"
    raise Refused(f"moving to {new or '/'} failed: {problem}\n{tail} Run 'subsite check' for details.")


def apply(value):
    """Restart the app on the settings as written; return a problem or None."""
    ok, output = services.restart_app()
    if not ok:
        return f"the uWSGI app did not start ({output or 'see ' + str(layout.UWSGI_LOG)})"
    if not nginx.site_enabled():
        return None     # no server of ours to ask; run() says so
    answer = probe.wait_for_health(value)
    if answer.status != 200:
        return f"{value}/_health answered {answer.status or 'nothing'} through nginx"
    return None
