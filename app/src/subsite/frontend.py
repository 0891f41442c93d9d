"""The public notice board: posts as pages and as JSON."""

from flask import current_app, jsonify, render_template, request, url_for

from . import converters, db, layout, testpages
from .base import make_flask

# The application sets this to the admin's root so the footer can link to it.
ADMIN_ROOT_KEY = "subsite.admin"


def create_frontend(test_config=None):
    """Create the public app."""
    app = make_flask("subsite.frontend", test_config, cookie_name=layout.FRONTEND_COOKIE)
    app.add_url_rule("/", "index", index)
    app.add_url_rule("/posts/<id:post_id>", "post", post)
    # Kept with a trailing slash on purpose: /dir redirects to /dir/, which
    # shows that routing redirects stay under the prefix.
    app.add_url_rule("/dir/", "directory", directory)
    app.add_url_rule("/api/posts", "api_posts", api_posts)
    app.add_url_rule("/api/posts/<id:post_id>", "api_post", api_post)
    testpages.init_app(app)
    app.context_processor(template_context)
    app.after_request(cacheable)
    return app


# Posts on one page of the front page; older ones are a link away.
PAGE_SIZE = 20
# Titles on one page of the directory, posts in one answer of the API.
DIRECTORY_PAGE_SIZE = 200
API_PAGE_SIZE = 50

# The pages nginx may keep in its cache (pagecache.py): the same for every
# visitor, they read no cookie and set none.
CACHEABLE = frozenset({"index", "post", "directory", "api_posts", "api_post"})
# How long nginx keeps such a page at most (X-Accel-Expires). Its key ends
# with the board's generation, so a write makes it unreachable at once; this
# only frees the room of pages nobody asks for.
CACHE_SECONDS = 600
# The request headers Werkzeug's make_conditional reads (is_resource_modified):
# with none of them, it would only add a Date, which nginx sends anyway, at
# 10-15 % of the front page's CPU in process; so it runs only when one is there.
CONDITIONAL = ("HTTP_IF_NONE_MATCH", "HTTP_IF_MATCH", "HTTP_IF_MODIFIED_SINCE", "HTTP_IF_RANGE", "HTTP_RANGE")


def cacheable(response):
    """Let nginx keep a public page; let browsers revalidate it at every visit, cheaply (ETag, 304)."""
    if request.endpoint in CACHEABLE and request.method in ("GET", "HEAD") and response.status_code == 200:
        response.headers["Cache-Control"] = "no-cache"
        # nginx stores only what carries this (and never a response with Set-Cookie).
        response.headers["X-Accel-Expires"] = str(CACHE_SECONDS)
        response.add_etag()
        if any(name in request.environ for name in CONDITIONAL):
            response.make_conditional(request)
    return response


def template_context():
    """Tell base.html which navigation to show."""
    admin_root = request.environ.get(ADMIN_ROOT_KEY)
    return {"area": "frontend", "admin_url": admin_root + "/" if admin_root else None}


# How many rendered summaries (summaries) a worker keeps, and the longest row
# (in characters) whose summary is kept: at most a few MB, usually a few 100 kB.
SUMMARIES_KEPT = 200
ROW_KEPT_MAX = 2000
# (template, script root, row) -> the summary's HTML.
_summaries = {}


def summaries(posts):
    """Return the front page's summaries of ``posts`` (rows) as HTML, each rendered only the first time.

    Rendering 20 summaries was about half of the front page's CPU. A summary
    depends only on the row, the template and the script root (its URLs), so
    it is kept under all three. The rows are those this request has just
    read, so a post changed by any worker or process never comes from here:
    its new row is another key. Rows longer than ROW_KEPT_MAX are rendered
    every time; when SUMMARIES_KEPT are kept, all are dropped.
    """
    template = current_app.jinja_env.get_template("frontend/summary.html")
    root = request.script_root
    macros = None
    shown = []
    for post in posts:
        key = (template, root, tuple(post))
        html = _summaries.get(key)
        if html is None:
            if macros is None:
                macros = template.make_module()
            html = macros.summary(post)
            if sum(len(str(value)) for value in key[2]) <= ROW_KEPT_MAX:
                if len(_summaries) >= SUMMARIES_KEPT:
                    _summaries.clear()
                _summaries[key] = html
        shown.append(html)
    return shown


def forget_summaries():
    """Drop every kept summary (summaries)."""
    _summaries.clear()


def page(rows, size, endpoint):
    """Split ``rows``, asked for with one more than ``size``, into a page and the URL of the next (None: none)."""
    shown = rows[:size]
    later = url_for(endpoint, before=shown[-1]["id"]) if len(rows) > size else None
    return shown, later


def before():
    """Return the ?before= id a page starts below, or None for the first page."""
    return request.args.get("before", type=converters.row_id)


def index():
    """List the newest posts, a page at a time.

    static/seen.js marks those added since this browser's last visit, so the
    page is the same for every visitor.
    """
    first = before()
    posts, older = page(db.list_posts(limit=PAGE_SIZE + 1, before=first), PAGE_SIZE, "index")
    newest = None
    if first is None:
        newest = posts[0]["id"] if posts else 0
    return render_template("frontend/index.html", summaries=summaries(posts), newest=newest, older=older)


def post(post_id):
    """Show one post."""
    return render_template("frontend/post.html", post=db.get_post_or_404(post_id))


def directory():
    """List the post titles, newest first, a page at a time."""
    rows = db.list_posts(limit=DIRECTORY_PAGE_SIZE + 1, before=before())
    posts, older = page(rows, DIRECTORY_PAGE_SIZE, "directory")
    return render_template("frontend/dir.html", posts=posts, older=older)


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
    """Return posts as a JSON list, newest first, a page at a time.

    The list keeps the shape of 1.0's answer; the URL of the older posts, when
    there are more, is in a ``Link: <URL>; rel="next"`` header (RFC 8288).
    """
    rows = db.list_posts(limit=API_PAGE_SIZE + 1, before=before())
    posts, later = page(rows, API_PAGE_SIZE, "api_posts")
    response = jsonify([post_json(row) for row in posts])
    if later:
        response.headers["Link"] = f'<{later}>; rel="next"'
    return response


def api_post(post_id):
    """Return one post as JSON."""
    row = db.get_post(post_id)
    if row is None:
        return {"error": f"there is no post {post_id}"}, 404
    return post_json(row)
