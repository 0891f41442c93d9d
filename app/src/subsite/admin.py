"""The admin app: log in, write, edit and delete posts."""

from flask import current_app, flash, redirect, render_template, request, url_for

from . import auth, csrf, db, layout, uploads
from .auth import login_required
from .base import make_flask
from .diagnostics import diagnostics
from .links import site_url_for

TITLE_MAX = 200


class PostError(ValueError):
    """Submitted post data that cannot be saved; str() is for the user."""


def create_admin(test_config=None):
    """Create the admin app (make_application mounts it under the frontend)."""
    app = make_flask("subsite.admin", test_config, cookie_name=layout.ADMIN_COOKIE)
    auth.init_app(app)
    csrf.init_app(app)
    app.add_url_rule("/", "index", index)
    app.add_url_rule("/posts/new", "new_post", new_post, methods=("GET", "POST"))
    app.add_url_rule("/posts/<id:post_id>/edit", "edit_post", edit_post, methods=("GET", "POST"))
    app.add_url_rule("/posts/<id:post_id>/delete", "delete_post", delete_post, methods=("POST",))
    app.add_url_rule("/api/posts", "api_create", api_create, methods=("POST",))
    app.add_url_rule("/api/csrf", "api_csrf", api_csrf)
    app.add_url_rule("/diagnostics", "diagnostics", diagnostics)
    app.context_processor(lambda: {"area": "admin", "site_url_for": site_url_for, "logged_in": auth.logged_in()})
    app.after_request(no_store)
    return app


def no_store(response):
    """Keep admin pages, which carry the CSRF token, out of every cache."""
    if request.endpoint not in ("static", "uploads"):
        response.headers["Cache-Control"] = "no-store"
    return response


def read_post(data, old_image=None):
    """Return (title, body, image) from submitted data; raise ValueError if unusable."""
    title, body = data.get("title"), data.get("body")
    title = title.strip() if isinstance(title, str) else ""
    body = body.strip() if isinstance(body, str) else ""
    if not title or not body:
        raise PostError("A post needs a title and a body.")
    if len(title) > TITLE_MAX:
        raise PostError(f"The title is longer than {TITLE_MAX} characters.")
    if any((ord(char) < 32 and char not in "\t\n\r") or ord(char) == 127 for char in title + body):
        raise PostError("The title and body must not contain control characters such as NUL.")
    image = old_image
    if data.get("remove_image"):
        image = None
    file = request.files.get("image")
    if not uploads.is_empty(file):
        image = uploads.save(file)
    return title, body, image


def render_form(post, error=None):
    """Render the post form, keeping what was typed when it is sent back."""
    values = request.form if request.method == "POST" else (post or {})
    return render_template("admin/edit.html", post=post, values=values, error=error and str(error))


@login_required
def index():
    """List every post with links to edit, delete and view it."""
    return render_template("admin/index.html", posts=db.list_posts())


@login_required
def new_post():
    """Show the form for a new post; create it and show it on the site."""
    if request.method == "POST":
        try:
            title, body, image = read_post(request.form)
        except (PostError, uploads.UploadError) as error:
            return render_form(None, error), 400
        post_id = db.create_post(title, body, image)
        current_app.logger.info("post %d created from %s", post_id, request.remote_addr)
        return redirect(site_url_for("post", post_id=post_id), 303)
    return render_form(None)


@login_required
def edit_post(post_id):
    """Show the form for an existing post; save the changes."""
    post = db.get_post_or_404(post_id)
    if request.method == "POST":
        try:
            title, body, image = read_post(request.form, old_image=post["image"])
        except (PostError, uploads.UploadError) as error:
            return render_form(post, error), 400
        db.update_post(post_id, title, body, image)
        if image != post["image"]:
            uploads.remove(post["image"])
        flash(f"Saved “{title}”.")
        return redirect(url_for(".index"), 303)
    return render_form(post)


@login_required
def delete_post(post_id):
    """Delete a post and its image."""
    post = db.get_post_or_404(post_id)
    db.delete_post(post_id)
    uploads.remove(post["image"])
    current_app.logger.info("post %d deleted from %s", post_id, request.remote_addr)
    flash(f"Deleted “{post['title']}”.")
    return redirect(url_for(".index"), 303)


@login_required
def api_create():
    """Create a post from form fields or JSON; 303 to its page on the site."""
    data = request.get_json(silent=True) if request.is_json else request.form
    if not isinstance(data, dict):
        return {"error": "send form fields or a JSON object with title and body"}, 400
    try:
        title, body, image = read_post(data)
    except (PostError, uploads.UploadError) as error:
        return {"error": str(error)}, 400
    post_id = db.create_post(title, body, image)
    current_app.logger.info("post %d created through the API from %s", post_id, request.remote_addr)
    url = site_url_for("post", post_id=post_id)
    return {"id": post_id, "url": url}, 303, {"Location": url}


@login_required
def api_csrf():
    """Give API clients the token to send as X-CSRF-Token."""
    return {"csrf_token": csrf.csrf_token()}
