"""subsite: a Flask notice board served under any URL prefix by uWSGI and nginx."""

# The one place of the app's version (pyproject.toml reads it from here).
__version__ = "1.1.0"
