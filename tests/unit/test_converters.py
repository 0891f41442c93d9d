"""Ids in URLs are bounded to what SQLite stores."""

import pytest
from werkzeug.exceptions import NotFound
from werkzeug.routing import Map, Rule

from subsite.converters import ID_MAX, IdConverter, row_id


@pytest.fixture
def adapter():
    return Map([Rule("/posts/<id:post_id>", endpoint="post")], converters={"id": IdConverter}).bind("localhost")


@pytest.mark.parametrize("path, post_id", [("/posts/0", 0), ("/posts/007", 7), (f"/posts/{ID_MAX}", ID_MAX)])
def test_id_in_range(adapter, path, post_id):
    assert adapter.match(path) == ("post", {"post_id": post_id})


@pytest.mark.parametrize("segment", [str(ID_MAX + 1), "9" * 5000, "-1", "1.0", "\u0661", "\uff11", "", "1e3"])
def test_id_out_of_range_does_not_match(adapter, segment):
    with pytest.raises(NotFound):
        adapter.match(f"/posts/{segment}")


def test_id_builds_urls(adapter):
    assert adapter.build("post", {"post_id": 12}) == "/posts/12"


@pytest.mark.parametrize("value, expected", [("0", 0), ("12", 12), (str(ID_MAX), ID_MAX), ("0012", 12)])
def test_row_id(value, expected):
    assert row_id(value) == expected


@pytest.mark.parametrize("value", [str(ID_MAX + 1), "9" * 5000, "-1", "+1", " 1", "1_0", "1.0", "\u0661", "", "x"])
def test_row_id_refuses(value):
    with pytest.raises(ValueError):
        row_id(value)
