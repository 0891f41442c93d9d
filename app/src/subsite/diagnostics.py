"""What the app sees of a request once uWSGI, nginx and ProxyFix are done."""

from flask import current_app, render_template, request, url_for

from .auth import login_required
from .links import site_url_for

# The forwarding headers an admin may wonder about, each with the name
# trusted-headers gives it; X-Forwarded-Ssl is never read (ProxyFix ignores it).
FORWARDED_HEADERS = (
    ("X-Forwarded-For", "for"),
    ("X-Forwarded-Host", "host"),
    ("X-Forwarded-Port", "port"),
    ("X-Forwarded-Prefix", "prefix"),
    ("X-Forwarded-Proto", "proto"),
    ("X-Forwarded-Ssl", None),
)


def proxy_fix_value(trusted, value):
    """Return the value ProxyFix takes from a header: the n-th from the right."""
    if not trusted or not value:
        return None
    values = [part.strip() for part in value.split(",")]
    return values[-trusted] if len(values) >= trusted else None


def port_of(host, scheme):
    """Return the port in a Host value, or the scheme's default."""
    name, sep, port = host.rpartition(":")
    if sep and not host.endswith("]") and port.isdigit():
        return int(port)
    return 443 if scheme == "https" else 80


def headers(trusted_proxies, trusted_headers):
    """Describe each forwarding header: present, trusted, applied."""
    rows = []
    for name, setting in FORWARDED_HEADERS:
        value = request.headers.get(name)
        trusted = trusted_proxies > 0 and setting in trusted_headers
        used = proxy_fix_value(trusted_proxies, value) if trusted else None
        rows.append(
            {
                "name": name,
                "setting": setting,
                "present": value is not None,
                "value": value,
                "trusted": trusted,
                "applied": bool(used),
                "used": used or None,
            }
        )
    return rows


def collect():
    """Return everything the diagnostics page shows, as JSON-ready data."""
    trusted_proxies = current_app.config["TRUSTED_PROXIES"]
    trusted_headers = current_app.config["TRUSTED_HEADERS"] if trusted_proxies > 0 else ()
    server = request.server
    return {
        "script_root": request.script_root,
        "site_root": request.environ.get("subsite.root"),
        "path": request.path,
        "url": request.url,
        "url_for_external": url_for(".diagnostics", _external=True),
        "site_url": site_url_for("index"),
        "scheme": request.scheme,
        "is_secure": request.is_secure,
        "host": request.host,
        "port": port_of(request.host, request.scheme),
        "server": f"{server[0]}:{server[1]}" if server else None,
        "remote_addr": request.remote_addr,
        "trusted_proxies": trusted_proxies,
        "trusted_headers": list(trusted_headers),
        "forwarded_headers": headers(trusted_proxies, trusted_headers),
        "proxy_fix_orig": request.environ.get("werkzeug.proxy_fix.orig"),
    }


@login_required
def diagnostics():
    """Show the request as the app sees it, as HTML or ?format=json."""
    data = collect()
    if request.args.get("format") == "json":
        return data
    return render_template("admin/diagnostics.html", data=data)
