"""`subsite migrate` and `subsite migrate-to URL`: the database's schema brought up to date; an SQLite board moved to PostgreSQL.

`subsite migrate` applies the migrations this release has and the database
lacks (migrations.py), and prints the versions before and after. On SQLite
the app does this itself when it starts; on PostgreSQL it is the admin's step,
once for the whole cluster (from any one host with the new release), safe to
run twice or on several hosts at once. `--check` only tells.

`subsite migrate-to URL` copies this host's SQLite board into an empty
PostgreSQL database, then says which line to change and how to go back.

Exit codes: 0 done (--check: nothing pending); 1 the admin must act (--check:
migrations are pending, or this release cannot use the database; a refusal);
4 the database could not be reached or read; 3 an unexpected failure.
Every database step runs as the app's user (dbmove.py).
"""

from .. import dbmove, layout, postgres, privileges, settings
from .common import FIX, OK, Refused

# The database could not be reached or read.
UNREACHABLE = 4


class Unreachable(Refused):
    """The database could not be reached or read; the message says which and why."""

    code = UNREACHABLE


def add_parser(subs):
    parser = subs.add_parser("migrate", help="bring the database's schema up to this release's (on PostgreSQL: "
                                             "once for every host, before they start this release)")
    parser.add_argument("--check", action="store_true",
                        help="change nothing: exit 0 when the database is up to date, 1 when migrations are pending")
    parser.set_defaults(run=run_migrate)
    parser = subs.add_parser("migrate-to", help="copy this host's SQLite board into an empty PostgreSQL database")
    parser.add_argument("url", metavar="URL", help=f"the PostgreSQL database, as in the settings: {postgres.EXAMPLE}")
    parser.add_argument("--replace", action="store_true", help="delete the posts the target already holds first")
    parser.set_defaults(run=run_migrate_to)


def run_migrate(args):
    database = _database()
    where = postgres.where(database)
    if args.check:
        found = as_web_user(dbmove.status, database)
        if found["problem"]:
            print(f"subsite: {found['problem']}")
            return FIX
        if found["pending"]:
            print(f"{where} is at schema version {found['version']}; this release needs {found['latest']}. Pending:")
            for number, description in found["pending"]:
                print(f"  {number}: {description}")
            print("Run: subsite migrate")
            return FIX
        print(f"{where} is up to date (schema version {found['version']}).")
        return OK
    done = as_web_user(dbmove.migrate, database)
    if not done["applied"]:
        print(f"{where} is up to date (schema version {done['before']}); nothing to do.")
        return OK
    if done["legacy"]:
        print(f"{where} is a board from before schema versions (release 1.0.0 or an early 1.1.0): "
              "its tables and rows are kept.")
    for number, description in done["applied"]:
        print(f"  applied {number}: {description}")
    print(f"Migrated {where} from schema version {done['before']} to {done['after']}.")
    return OK


def run_migrate_to(args):
    source = _database()
    if postgres.is_url(source):
        raise Refused(f"the database in {layout.SETTINGS_FILE} is already PostgreSQL ({postgres.describe(source)}); "
                      "migrate-to copies an SQLite board. Nothing was done.")
    if not postgres.is_url(args.url):
        raise Refused(f"{args.url!r} is not a PostgreSQL URL; write it as {postgres.EXAMPLE}. Nothing was done.")
    try:
        target = postgres.check_url(args.url)
    except ValueError as error:
        raise Refused(f"{postgres.describe(args.url)} is refused: {error}. Nothing was done.") from None
    done = as_web_user(dbmove.move, source, target, args.replace, _uploads_dir())
    where = postgres.describe(target)
    print(f"Copied {done['posts']} posts (ids up to {done['last_id']}, {done['images']} with an image) from "
          f"{source} to {where}, with the sessions' and the board's generations; the counts match.")
    print(f"To use it, set this line in {layout.SETTINGS_FILE} on every host, then restart the app "
          "(systemctl restart subsite, or service uwsgi restart):")
    print(f"    database = {target}")
    print(f"{done['images_stored']} images were copied into it too, so every host serves them.")
    if done["images_missing"]:
        print(f"These images were not in the uploads directory, and are not copied: "
              f"{', '.join(done['images_missing'][:20])}{' ...' if len(done['images_missing']) > 20 else ''}")
    print(f"Posts written to {source} from now on are not copied: "
          "switch soon, or run migrate-to again with --replace just before.")
    print(f"To undo, set database = {source} again and restart: that file is left as it was "
          f"(posts written to PostgreSQL meanwhile are not in it).")
    return OK


def _database():
    try:
        return str(settings.load().database)
    except settings.SettingsError as error:
        raise Refused(f"{error}. Nothing was done.") from None


def _uploads_dir():
    """The uploads directory in the settings (read before the database steps, which run as www-data)."""
    return str(settings.load().uploads)


def as_web_user(function, *args):
    """Return ``function(*args)`` run as the app's user in a child; its refusals are the command's."""
    try:
        return privileges.run_as(layout.WEB_USER, function, *args,
                                 expected=(dbmove.MoveRefused, dbmove.DatabaseFailed))
    except dbmove.MoveRefused as error:
        raise Refused(str(error)) from None
    except dbmove.DatabaseFailed as error:
        raise Unreachable(str(error)) from None
