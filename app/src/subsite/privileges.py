"""Steps that root's commands run as the web user, in a child process.

The app's data directory is writable by www-data (SQLite makes its -wal and
-shm files there), so anything found in it may have been put there by the app,
or by any other www-data process: a link in place of a file, a database whose
views run code. Root must not act on it. A command that needs the data forks a
child, drops to www-data there and does the work as the app itself would;
root keeps only what only root may do, such as opening the file an admin named
for output, which the child inherits as an open descriptor.

This also keeps root's commands working where Debian's kernel defaults apply
(fs.protected_regular = 2): root may not open www-data's files in that
sticky, group-writable directory, but www-data may.
"""

import json
import os
import pwd
import sys


class ChildFailed(RuntimeError):
    """The child ended without a result: it crashed, was killed, or its error could not be sent back."""


def run_as(user, function, *args, expected=(), **kwargs):
    """Return ``function(*args, **kwargs)`` called in a child process running as ``user``.

    The result comes back as JSON, never as pickled objects: root reads it
    from a process another www-data process might have influenced. An
    exception of a class in ``expected`` is raised here again with its
    message; any other becomes ChildFailed. Descriptors open here stay open
    in the child. When this process already runs as ``user`` the child keeps
    its identity, so the same code runs in tests.
    """
    entry = pwd.getpwnam(user)
    sys.stdout.flush()
    sys.stderr.flush()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:                                    # the child: never returns
        os.close(read_end)
        _child(entry, write_end, function, args, kwargs)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    if not data:
        raise ChildFailed(f"the step run as {user} ended without a result "
                          f"(exit status {os.waitstatus_to_exitcode(status)})")
    try:
        outcome = json.loads(data)
        if "result" not in outcome:
            kind, message = str(outcome["kind"]), str(outcome["error"])
    except (ValueError, TypeError, KeyError):
        raise ChildFailed(f"the step run as {user} sent back something unreadable") from None
    if "result" in outcome:
        return outcome["result"]
    for expected_kind in expected:
        if expected_kind.__name__ == kind:
            raise expected_kind(message)
    raise ChildFailed(f"{kind}: {message}")


def drop_to(entry):
    """Become the user of ``entry`` (a pwd entry) for good: no supplementary groups, gid, then uid."""
    if os.geteuid() == entry.pw_uid and os.getegid() == entry.pw_gid:
        return
    os.setgroups([])
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)
    if os.geteuid() != entry.pw_uid:
        raise ChildFailed(f"could not become {entry.pw_name}")


def _child(entry, write_end, function, args, kwargs):
    code = 0
    try:
        try:
            drop_to(entry)
            os.chdir("/")
            outcome = {"result": function(*args, **kwargs)}
        except BaseException as error:          # sent to the parent, which raises it
            outcome = {"kind": type(error).__name__, "error": str(error)}
        try:
            data = json.dumps(outcome)
        except (TypeError, ValueError) as error:
            data = json.dumps({"kind": "ChildFailed", "error": f"the result cannot be sent: {error}"})
        with os.fdopen(write_end, "w", encoding="utf-8") as pipe:
            pipe.write(data)
    except BaseException:
        code = 3
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
