"""The public notice board: posts as pages and as JSON."""

from flask import render_template, request, session, url_for

from . import converters, db, testpages
from .base import make_flask
from .sessions import FRONTEND_COOKIE

# The application sets this to the admin's root so the footer can link to it.
ADMIN_ROOT_KEY = "subsite.admin"


def create_frontend(test_config=None):
    """Create the public app."""
    app = make_flask("subsite.frontend", test_config, cookie_name=FRONTEND_COOKIE)
    app.add_url_rule("/", "index", index)
    app.add_url_rule("/posts/<id:post_id>", "post", post)
    # Kept with a trailing slash on purpose: /dir redirects to /dir/, which
    # shows that routing redirects stay under the prefix.
    app.add_url_rule("/dir/", "directory", directory)
    app.add_url_rule("/api/posts", "api_posts", api_posts)
    app.add_url_rule("/api/posts/<id:post_id>", "api_post", api_post)
    testpages.init_app(app)
    app.context_processor(template_context)
    return app


# Posts on one page of the front page; older ones are a link away.
PAGE_SIZE = 20


def template_context():
    """Tell base.html which navigation to show."""
    admin_root = request.environ.get(ADMIN_ROOT_KEY)
    return {"area": "frontend", "admin_url": admin_root + "/" if admin_root else None}


def index():
    """List the newest posts, a page at a time, marking those added since the last visit."""
    before = request.args.get("before", type=converters.row_id)
    rows = db.list_posts(limit=PAGE_SIZE + 1, before=before)
    posts, more = rows[:PAGE_SIZE], len(rows) > PAGE_SIZE
    older = url_for("index", before=posts[-1]["id"]) if more else None
    seen = session.get("seen")
    if before is None:
        newest = posts[0]["id"] if posts else 0
        # Only write the cookie when it changes, so repeat visits send no Set-Cookie.
        if seen != newest:
            session["seen"] = newest
    return render_template("frontend/index.html", posts=posts, seen=seen, older=older)


def post(post_id):
    """Show one post."""
    return render_template("frontend/post.html", post=db.get_post_or_404(post_id))


def directory():
    """List every post title."""
    return render_template("frontend/dir.html", posts=db.list_posts())


def post_json(row):
    """Return a post as JSON-ready data with relative URLs."""
    image = row["image"]
    return {
        "id": row["id"],
        "title": row["title"],
        "body": row["body"],
        "created": row["created"],
        "image": url_for("uploads", filename=image) if image else None,
        "url": url_for("post", post_id=row["id"]),
    }


def api_posts():
    """Return all posts as JSON, newest first."""
    return [post_json(row) for row in db.list_posts()]


def api_post(post_id):
    """Return one post as JSON."""
    row = db.get_post(post_id)
    if row is None:
        return {"error": f"there is no post {post_id}"}, 404
    return post_json(row)

