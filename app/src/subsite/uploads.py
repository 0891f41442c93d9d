"""Uploaded images: checked by content, stored under random names.

nginx sends them from the uploads directory. With PostgreSQL (several hosts)
each image is kept in the database too: a host asked for an image another
host took passes the request to the app (nginx's error_page for a missing
file), which copies the image from the database into its own uploads
directory and has nginx send it (X-Accel-Redirect). From then on nginx sends
it there by itself.
"""

import secrets
from pathlib import Path

from flask import abort, current_app, send_from_directory, url_for

from . import db, files, layout

# The first bytes of each accepted format, and the extension stored files get.
SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
)
ACCEPTED = "PNG, JPEG, GIF or WebP"


class UploadError(ValueError):
    """An upload that is refused; str() is a message for the user."""


def detect(head):
    """Return the extension for the image whose first bytes are ``head``, or None."""
    for magic, ext in SIGNATURES:
        if head.startswith(magic):
            return ext
    # WebP is a RIFF container: "RIFF", a 4-byte size, then "WEBP".
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


def is_empty(file):
    """Tell whether a form's file field was left empty."""
    # Browsers send an empty part with filename="" when no file was chosen.
    if file is None or file.filename:
        return file is None
    empty = not file.stream.read(1)
    file.stream.seek(0)
    return empty


def save(file):
    """Store an uploaded image and return its new file name.

    The client's file name and Content-Type are ignored: only the bytes
    decide whether this is an image and which extension it gets.
    """
    head = file.stream.read(12)
    file.stream.seek(0)
    ext = detect(head)
    if ext is None:
        raise UploadError(f"The file is not an image this site accepts; upload a {ACCEPTED} file.")
    folder = Path(current_app.config["UPLOADS_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{secrets.token_hex(16)}.{ext}"
    file.save(folder / name)
    # uWSGI daemonizes with umask 0: without this the file is world-writable.
    (folder / name).chmod(0o644)
    if db.shares_uploads():
        try:
            db.store_upload(name, (folder / name).read_bytes())
        except BaseException:
            # Not in the database, so no other host could serve it: nor does this one.
            (folder / name).unlink(missing_ok=True)
            raise
    return name


def remove(name):
    """Delete a stored image; a name this module did not make is ignored."""
    if name and layout.UPLOAD_NAME.fullmatch(name):
        (Path(current_app.config["UPLOADS_DIR"]) / name).unlink(missing_ok=True)
        if db.shares_uploads():
            db.delete_upload(name)


def serve(filename):
    """Send a stored image (nginx does this in production)."""
    return send_from_directory(current_app.config["UPLOADS_DIR"], filename)


def fetch(name):
    """Copy the image ``name`` another host took from the database into this host's uploads; nginx sends it.

    nginx asks for it (at layout.UPLOAD_FETCH_PATH, which it never takes from
    clients) only when the file is not here.
    """
    if not (db.shares_uploads() and layout.UPLOAD_NAME.fullmatch(name)):
        abort(404)
    folder = Path(current_app.config["UPLOADS_DIR"])
    if not (folder / name).is_file():       # copied once: never read from the database again
        data = db.get_upload(name)
        if data is None:
            abort(404)
        folder.mkdir(parents=True, exist_ok=True)
        files.write_atomically(folder / name, data)
    response = current_app.response_class(status=200)
    response.headers["X-Accel-Redirect"] = url_for("uploads", filename=name)
    # nginx keeps an answer's Content-Type through X-Accel-Redirect: none here,
    # so the file's comes from the uploads location's types, as for every image.
    del response.headers["Content-Type"]
    return response


def init_app(app):
    """Register the /uploads/ route so url_for can build image URLs, and the fetch of another host's image."""
    app.add_url_rule("/uploads/<path:filename>", "uploads", serve)
    app.add_url_rule(f"{layout.UPLOAD_FETCH_PATH}<name>", "fetch_upload", fetch)
