"""Links from the admin app to pages of the frontend."""

from flask import current_app, request

# Where make_application keeps the frontend app and its script root.
FRONTEND_KEY = "subsite.frontend"
ROOT_KEY = "subsite.root"


def site_url_for(endpoint, **values):
    """Build the relative URL of a frontend endpoint, e.g. ("post", post_id=1).

    The admin's own url_for only knows admin routes and the admin's root
    (prefix + /admin), so build with the frontend's routes bound to the
    frontend's root, which the dispatcher recorded before handing off.
    """
    frontend = current_app.extensions[FRONTEND_KEY]
    # Map.bind_to_environ() would take the admin's SCRIPT_NAME; bind() lets
    # the root be given. The result is a path (no host), like url_for's.
    adapter = frontend.url_map.bind(
        request.host, script_name=request.environ[ROOT_KEY] or "/", url_scheme=request.scheme
    )
    return adapter.build(endpoint, values)
