"""A tiny browser for install tests: cookies, forms and uploads over Machine.http."""

import re
import struct
import uuid
import zlib
from http.cookies import SimpleCookie


def png_bytes():
    """Return a valid 1x1 PNG image."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def multipart(fields, files):
    """Encode ``fields`` {name: str} and ``files`` {name: (filename, bytes, type)}."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (filename, data, kind) in files.items():
        head = (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                f"Content-Type: {kind}\r\n\r\n")
        parts.append(head.encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class Browser:
    """Keeps the cookies a server sets and sends them back, as a browser would."""

    def __init__(self, machine, origin="http://localhost", headers=None):
        """``headers`` go with every request (say, those a proxy in front adds)."""
        self.machine, self.origin = machine, origin
        self.headers = dict(headers or {})
        self.cookies = {}   # (name, path) -> morsel

    def cookie_header(self, target):
        path = target.split("?")[0]
        matching = [m for (name, cpath), m in self.cookies.items()
                    if path == cpath or path.startswith(cpath.rstrip("/") + "/")]
        # Longer paths first, as browsers send them.
        matching.sort(key=lambda m: -len(m["path"]))
        return "; ".join(f"{m.key}={m.value}" for m in matching)

    def request(self, method, target, headers=None, body=None):
        headers = {**self.headers, **(headers or {})}
        cookie = self.cookie_header(target)
        if cookie:
            headers["Cookie"] = cookie
        response = self.machine.http(method, self.origin + target, headers=headers, body=body)
        for raw in response.headers.get_all("Set-Cookie"):
            jar = SimpleCookie()
            jar.load(raw)
            for morsel in jar.values():
                self.cookies[(morsel.key, morsel["path"] or "/")] = morsel
        return response

    def get(self, target, **kwargs):
        return self.request("GET", target, **kwargs)

    def post(self, target, fields, files=None):
        if files:
            body, kind = multipart(fields, files)
        else:
            from urllib.parse import urlencode
            body, kind = urlencode(fields), "application/x-www-form-urlencoded"
        return self.request("POST", target, headers={"Content-Type": kind}, body=body)

    def logout(self, prefix):
        return self.post(f"{prefix}/admin/logout", {"csrf_token": self.csrf(f"{prefix}/admin/")})

    def csrf(self, target):
        """Return the csrf_token of the form on ``target``."""
        page = self.get(target)
        match = re.search(r'name="csrf_token"\s+value="([^"]+)"', page.text)
        assert match, f"no csrf_token on {target}: {page.status} {page.text[:300]}"
        return match.group(1)

    def login(self, prefix, password, next_url=None):
        fields = {"csrf_token": self.csrf(f"{prefix}/admin/login"), "password": password}
        if next_url:
            fields["next"] = next_url
        return self.post(f"{prefix}/admin/login", fields)
