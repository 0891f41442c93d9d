import pytest

from subsite.prefix import PrefixError, normalize


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [("", ""), ("/", ""), ("/subsite", "/subsite"), ("/subsite/", "/subsite"), ("/a/b", "/a/b"),
     ("/a/b/", "/a/b"), ("/A-z_0.9~", "/A-z_0.9~"), ("/" + "a" * 199, "/" + "a" * 199)],
)
def test_accepted(raw, canonical):
    assert normalize(raw) == canonical


@pytest.mark.parametrize(
    ("raw", "reason"),
    [("subsite", "start with '/'"), ("/a/../b", "'..'"), ("/a/./b", "'.'"), ("/..", "'..'"),
     ("/a//b", "'//'"), ("//", "'//'"), ("/a//", "'//'"), ("/a b", "space"), ("/a?b", "'?'"), ("/a#b", "'#'"),
     ("/a%2e", "'%'"), ("/a'b", "single quote"), ('/a"b', "double quote"), ("/a;b", "';'"),
     ("/a{b", "brace"), ("/a}b", "brace"), ("/a\nb", "control"), ("/a\tb", "control"), ("/a\x7fb", "control"),
     ("/caf\u00e9", "non-ASCII"), ("/static", "shadow"), ("/x/uploads/y", "shadow"),
     ("/" + "a" * 200, "limit is 200"), ("/a:b", "':'"), ("/a\\b", "backslash")],
)
def test_refused(raw, reason):
    with pytest.raises(PrefixError, match=reason):
        normalize(raw)
