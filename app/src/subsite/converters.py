"""Whole numbers taken from URLs, bounded so that SQLite can always take them.

SQLite's INTEGER is 64 bits: binding a larger Python int raises OverflowError,
which was a 500 for /posts/99999999999999999999. Ids in paths go through the
``id`` route converter (out of range: the route does not match, a 404); ids in
query strings through ``row_id`` (out of range: the value is ignored).
"""

from werkzeug.routing import IntegerConverter

# The largest rowid SQLite stores.
ID_MAX = 2**63 - 1


class IdConverter(IntegerConverter):
    """``<id:name>``: a row id in ASCII digits, 0 to ID_MAX."""

    # Werkzeug's \d+ also matches other scripts' digits, which int() reads.
    regex = r"[0-9]+"

    def __init__(self, map):
        super().__init__(map, max=ID_MAX)


def row_id(value):
    """Return the query argument ``value`` as a row id; raise ValueError unless it is 0 to ID_MAX in ASCII digits."""
    # Checked before int(): int() takes "+1", " 1", "1_0" and other scripts' digits.
    if not (value.isascii() and value.isdigit()) or len(value) > len(str(ID_MAX)):
        raise ValueError(f"not a row id: {value!r}")
    number = int(value)
    if number > ID_MAX:
        raise ValueError(f"not a row id: {value!r}")
    return number


def init_app(app):
    """Make ``<id:...>`` available to the app's routes."""
    app.url_map.converters["id"] = IdConverter
