"""Where the installed package keeps things: the one place for names and paths.

Everything else derives from NAME and these directories, so the Debian
package, the admin command and the app agree on every path. It imports
nothing heavy: `subsite uwsgi-config` runs on every uWSGI start.
"""

import re
from pathlib import Path

NAME = "subsite"

ETC_DIR = Path("/etc") / NAME
SETTINGS_FILE = ETC_DIR / f"{NAME}.ini"
SECRET_KEY_FILE = ETC_DIR / "secret-key"
PASSWORD_FILE = ETC_DIR / "admin-password"

# The app's data: www-data may write here (SQLite's -wal and -shm beside the
# database), so root never acts inside it (see privileges.py).
STATE_DIR = Path("/var/lib") / NAME
DATABASE_FILE = STATE_DIR / f"{NAME}.db"
UPLOADS_DIR = STATE_DIR / "uploads"
# The board's generation for nginx's page cache (pagecache.py): the app's user's,
# in memory (root makes it at every start of the app), whichever the database.
# nginx resolves a link in it on every cached request, at a cost that grows
# with the path's length: a short path.
GENERATION_DIR = Path("/run") / NAME

# What root generates from the settings: root's alone (0755), outside the data,
# because nginx's root master loads the files in it.
NGINX_DIR = Path("/var/lib") / f"{NAME}-nginx"
# The locations (server level); its first line records the prefix in force.
NGINX_LOCATIONS_FILE = NGINX_DIR / "locations.conf"
# The uWSGI upstream, included at nginx's http level by conf.d/subsite.conf.
NGINX_UPSTREAM_FILE = NGINX_DIR / "upstream.conf"
# nginx's cache of the public pages (page-cache = yes; see pagecache.py): the
# http-level part (the cache zone, the map that reads the board's generation)
# and the location-level part, each included by the file above it through a
# pattern, so that removing both turns the cache off (`subsite disable` does,
# when the package is removed).
NGINX_CACHE_HTTP_FILE = NGINX_DIR / "cache.conf"
NGINX_CACHE_LOCATION_FILE = NGINX_DIR / "cache-location.conf"
# Where nginx keeps the cached pages (nginx makes it and owns it); its zone's name.
NGINX_CACHE_DIR = Path("/var/cache") / f"{NAME}-nginx"
NGINX_CACHE_ZONE = NAME
# A digest of subsite's nginx files as nginx last loaded them (see `subsite setup`).
NGINX_LOADED_FILE = NGINX_DIR / "loaded.sha256"
# The prefix debconf and the settings file last agreed on (see `subsite debconf-value`).
DEBCONF_SYNCED_FILE = NGINX_DIR / "debconf-prefix"
# Where release 1.0.0 kept the generated nginx files, inside the data directory.
OLD_NGINX_DIR = STATE_DIR / "nginx"
OLD_DEBCONF_SYNCED_FILE = STATE_DIR / "debconf-prefix"

# Debian's uwsgi init script names an app's socket, pid and log after the file
# in /etc/uwsgi/apps-enabled (see /usr/share/uwsgi/conf/default.ini). Under
# systemd the units below run the same app file and listen on the same socket.
UWSGI_APP_FILE = Path("/etc/uwsgi/apps-available") / f"{NAME}.ini"
UWSGI_APP_LINK = Path("/etc/uwsgi/apps-enabled") / f"{NAME}.ini"
UWSGI_RUN_DIR = Path("/run/uwsgi/app") / NAME
UWSGI_SOCKET = UWSGI_RUN_DIR / "socket"
UWSGI_PIDFILE = UWSGI_RUN_DIR / "pid"
UWSGI_LOG = Path("/var/log/uwsgi/app") / f"{NAME}.log"
# uWSGI's python3 plugin: the Python it embeds must be the venv's.
UWSGI_PYTHON_PLUGIN = Path("/usr/lib/uwsgi/plugins/python3_plugin.so")
VENV_DIR = Path("/opt/venvs") / NAME

# Under systemd: the socket (systemd listens, so restarts queue requests) and the app.
SYSTEMD_SOCKET = f"{NAME}.socket"
SYSTEMD_SERVICE = f"{NAME}.service"
SYSTEMD_UNITS = (SYSTEMD_SOCKET, SYSTEMD_SERVICE)

NGINX_SITE_FILE = Path("/etc/nginx/sites-available") / NAME
NGINX_SITE_LINK = Path("/etc/nginx/sites-enabled") / NAME
NGINX_SNIPPET = Path("/etc/nginx/snippets") / f"{NAME}.conf"
NGINX_MAP_FILE = Path("/etc/nginx/conf.d") / f"{NAME}.conf"
NGINX_PIDFILE = Path("/run/nginx.pid")

# Facts the app and the nginx locations generated for it share.
# The monitoring probe's path under the prefix (health.py; `subsite check` polls it).
HEALTH_PATH = "/_health"
# The admin app's path under the prefix.
ADMIN_MOUNT = "/admin"
# The session cookies (sessions.py): nginx never answers a request that carries
# the admin's from its page cache (pagecache.py).
FRONTEND_COOKIE = f"{NAME}_front"
ADMIN_COOKIE = f"{NAME}_admin"
# Where nginx passes a request for an image another host took (with PostgreSQL; uploads.py).
UPLOAD_FETCH_PATH = "/_upload/"
# The largest request body (an upload) the app takes: Flask's MAX_CONTENT_LENGTH
# and nginx's client_max_body_size.
MAX_UPLOAD_BYTES = 8 * 1024 * 1024
# The names uploads.py stores images under: token_hex(16) plus a known extension.
# No other name in the uploads directory is served or copied.
UPLOAD_NAME = re.compile(r"[0-9a-f]{32}\.(png|jpg|gif|webp)")

# The user uWSGI's workers run as and nginx reads files as.
WEB_USER = "www-data"
