"""subsite: a Flask notice board served under any URL prefix by uWSGI and nginx."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("subsite")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
