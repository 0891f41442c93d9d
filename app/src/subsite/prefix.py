"""The rules for the URL prefix the app is mounted under.

A prefix is "" (the site root) or ``/seg[/seg...]`` where every segment is
made of RFC 3986 unreserved characters. The same value reaches uWSGI's
``mount``, nginx's ``location`` blocks and the cookie paths, so anything that
could change meaning in one of those languages is refused rather than escaped.
"""

import re

MAX_LENGTH = 200
# Where nginx serves files for the app itself: P/static/ and P/uploads/.
NGINX_SERVED = ("static", "uploads")
_SEGMENT = re.compile(r"[A-Za-z0-9._~-]+")
_NAMED = {
    " ": "a space",
    "?": "'?' (it starts a query string)",
    "#": "'#' (it starts a fragment)",
    "%": "'%' (percent-encoding is not allowed)",
    '"': "a double quote",
    "'": "a single quote",
    ";": "';'",
    "{": "a brace",
    "}": "a brace",
    "\\": "a backslash",
}


class PrefixError(ValueError):
    """A prefix that breaks the rules; the message says which rule."""


def normalize(raw: str) -> str:
    """Return the canonical form of ``raw`` or raise PrefixError.

    "" and "/" mean the site root and become "". One trailing slash is dropped.
    """
    if len(raw) > MAX_LENGTH:
        raise PrefixError(f"it is {len(raw)} characters long; the limit is {MAX_LENGTH}")
    for char in raw:
        if char in _NAMED:
            raise PrefixError(f"it contains {_NAMED[char]}")
        if ord(char) < 32 or ord(char) == 127:
            raise PrefixError(f"it contains the control character {char!r}")
        if ord(char) > 127:
            raise PrefixError(f"it contains the non-ASCII character {char!r}")
    if raw in ("", "/"):
        return ""
    if not raw.startswith("/"):
        raise PrefixError("it must start with '/' (for example /subsite), or be empty for the site root")
    if "//" in raw:
        raise PrefixError("it contains '//' (an empty segment)")
    path = raw[:-1] if raw.endswith("/") else raw
    for segment in path[1:].split("/"):
        if segment in (".", ".."):
            raise PrefixError(f"it contains the segment {segment!r}")
        if not _SEGMENT.fullmatch(segment):
            bad = sorted(set(re.sub(r"[A-Za-z0-9._~-]", "", segment)))
            raise PrefixError(
                f"segment {segment!r} contains {' '.join(repr(c) for c in bad)}; "
                "use letters, digits and . _ ~ - only"
            )
        if segment in NGINX_SERVED:
            raise PrefixError(
                f"the segment {segment!r} would shadow a path nginx serves itself "
                f"for the app (P/{segment}/)"
            )
    return path
