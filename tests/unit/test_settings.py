"""The settings file: parsing, refusals naming file and line, and rendering it back."""

import re
from pathlib import Path

import pytest

from subsite import settings

GOOD = """\
# comment
[subsite]
prefix = /board/
trusted-proxies = 1
socket = 127.0.0.1:3031
"""


def test_parse():
    values = settings.parse(GOOD, "/etc/subsite/subsite.ini")
    assert values.prefix == "/board"
    assert values.trusted_proxies == 1
    assert values.upstream == "127.0.0.1:3031"
    assert values.database == settings.Settings().database


@pytest.mark.parametrize("socket", ["/run/board.sock", "127.0.0.1:3031", "127.9.9.9:1", "[::1]:3031",
                                    "localhost:65535"])
def test_sockets_on_this_machine(socket):
    assert settings.parse(f"[subsite]\nsocket = {socket}\n").socket == socket


@pytest.mark.parametrize("socket", ["10.0.0.5:3031", "0.0.0.0:3031", "[::]:3031", "[2001:db8::1]:3031",
                                    "board.example:3031"])
def test_a_socket_anyone_could_reach_is_refused_unless_allowed(socket):
    with pytest.raises(settings.SettingsError, match=r"f.ini:3: socket = .* is refused: uWSGI's protocol has no "
                                                     r"authentication"):
        settings.parse(f"[subsite]\nprefix = /a\nsocket = {socket}\n", "f.ini")
    allowed = settings.parse(f"[subsite]\nsocket = {socket}\nallow-remote-socket = yes\n")
    assert allowed.socket == socket and allowed.allow_remote_socket


@pytest.mark.parametrize("socket", [":3031", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:99999999",
                                    "127.0.0.1", "relative/path", "/" + "s" * 200, "[::1]3031", "h\u00e9:80"])
def test_malformed_sockets_are_refused(socket):
    with pytest.raises(settings.SettingsError, match="f.ini:2: socket = .* is refused"):
        settings.parse(f"[subsite]\nsocket = {socket}\n", "f.ini")


@pytest.mark.parametrize("uploads", ["/", "/var", "/var/lib", "/var/lib/subsite", "/etc", "/etc/subsite", "/run",
                                     "/run/uwsgi", "/var/lib/subsite-nginx", "/var/lib/subsite-nginx/up",
                                     "/var/lib/dpkg/x", "/usr/share/x", "/opt/venvs/subsite/x", "/root/up",
                                     "/home/admin/up", "/var/log/up", "/tmp/up", "/var/tmp/up",
                                     "/proc/self", "/var/lib/subsite/../dpkg"])
def test_uploads_in_a_system_or_state_directory_are_refused(uploads, monkeypatch):
    monkeypatch.setattr(settings, "SYSTEM_DIRS", settings.SYSTEM_DIRS + (Path("/tmp"),))
    with pytest.raises(settings.SettingsError, match=f"f.ini:2: uploads = '{re.escape(uploads)}' is refused"):
        settings.parse(f"[subsite]\nuploads = {uploads}\n", "f.ini")


@pytest.mark.parametrize("uploads", ["/var/lib/subsite/uploads", "/var/lib/subsite/b/up", "/var/www/board",
                                     "/srv/board/uploads", "/data/uploads", "/var/lib/subsite-b/uploads"])
def test_uploads_of_their_own_are_taken(uploads):
    assert settings.parse(f"[subsite]\nuploads = {uploads}\n").uploads == Path(uploads)


def test_defaults_use_the_unix_socket():
    assert settings.Settings().upstream == "unix:/run/uwsgi/app/subsite/socket"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[subsite]\nprefix = /a b\n", "f.ini:2: prefix = '/a b' is refused: it contains a space"),
        ("[subsite]\n\nprefx = /a\n", "f.ini:3: unknown setting 'prefx'"),
        ("[subsite]\ntrusted-proxies = many\n", "f.ini:2: trusted-proxies = 'many' is refused"),
        ("[subsite]\ndatabase = relative.db\n", "f.ini:2: database = 'relative.db' is refused"),
        ("[subsite]\nsocket = /run/x; evil\n", "f.ini:2: socket = '/run/x; evil' is refused"),
        ("[subsite]\nuploads = /srv/up loads\n", "f.ini:2: uploads = '/srv/up loads' is refused: it must be an "
         "absolute path without spaces, quotes, ';' or braces"),
        ("[subsite]\nuploads = /srv/x;}\n", "f.ini:2: uploads = '/srv/x;}' is refused: it must be an absolute path"),
        ("[subsite]\ndatabase = /srv/\"db\"\n", "f.ini:2: database = '/srv/\"db\"' is refused: it must be an "
         "absolute path without"),
        ("prefix = /a\n", "f.ini:1: File contains no section headers."),
        ("[subsite]\n# c\nprefix /board\nnoise\n", "f.ini:3: expected 'key = value'"),
        ("[other]\n", "f.ini: there is no [subsite] section"),
        ("[subsite]\nprefix = /a\nprefix = /b\n", "f.ini:3: While reading from 'f.ini' [line  3]: option 'prefix'"),
    ],
)
def test_errors_name_file_and_line(text, message):
    with pytest.raises(settings.SettingsError) as caught:
        settings.parse(text, "f.ini")
    assert str(caught.value).startswith(message)


def test_missing_file(tmp_path):
    with pytest.raises(settings.SettingsError, match="missing; run 'dpkg-reconfigure subsite'"):
        settings.load(tmp_path / "nope.ini")


def test_with_prefix_keeps_everything_else():
    changed = settings.with_prefix(GOOD, "/new")
    assert changed == GOOD.replace("prefix = /board/", "prefix = /new")
    assert settings.with_prefix("[subsite]\n", "/x") == "[subsite]\nprefix = /x\n"


def test_rendered_template_parses_back():
    from subsite.cli.common import render_settings

    values = settings.Settings(prefix="/x/y", trusted_proxies=2)
    assert settings.parse(render_settings(values), Path("t.ini")) == values


def test_debconf_default_is_the_settings_default():
    templates = Path(__file__).resolve().parents[2] / "debian" / "templates"
    assert f"Default: {settings.Settings().prefix}\n" in templates.read_text()


def test_login_attempts_and_test_endpoints():
    values = settings.parse("[subsite]\nlogin-attempts = 10 per 60s\ntest-endpoints = yes\n")
    assert values.login_attempts == settings.Rate(10, 60) and values.test_endpoints is True
    off = settings.parse("[subsite]\nlogin-attempts = off\n")
    assert off.login_attempts.count == 0 and str(off.login_attempts) == "off"
    defaults = settings.Settings()
    assert str(defaults.login_attempts) == "5 per 300 s" and defaults.test_endpoints is False


def test_login_attempts_total():
    assert str(settings.Settings().login_attempts_total) == "100 per 300 s"
    values = settings.parse("[subsite]\nlogin-attempts-total = 1000 per 3600 s\n")
    assert values.login_attempts_total == settings.Rate(1000, 3600)
    assert settings.parse("[subsite]\nlogin-attempts-total = off\n").login_attempts_total.count == 0


@pytest.mark.parametrize(("text", "message"), [
    ("login-attempts = 5", "write it as 'N per S s'"),
    ("login-attempts = 0 per 10 s", "write it as 'N per S s'"),
    ("login-attempts = 5 per 0 s", "write it as 'N per S s'"),
    ("login-attempts-total = 100", "write it as 'N per S s'"),
    ("login-attempts-total = many per 300 s", "write it as 'N per S s'"),
    ("test-endpoints = maybe", "it must be yes or no"),
    ("page-cache = sometimes", "it must be yes or no"),
])
def test_new_keys_refused(text, message):
    with pytest.raises(settings.SettingsError, match=f"f.ini:2: .* is refused: {message}"):
        settings.parse(f"[subsite]\n{text}\n", "f.ini")


def test_rendered_template_keeps_new_keys():
    from subsite.cli.common import render_settings

    values = settings.Settings(login_attempts=settings.Rate(0, 1), login_attempts_total=settings.Rate(20, 60),
                               test_endpoints=True)
    text = render_settings(values)
    assert "login-attempts = off\n" in text and "test-endpoints = yes\n" in text
    assert "login-attempts-total = 20 per 60 s\n" in text
    assert settings.parse(text, Path("t.ini")) == values


def test_page_cache():
    from subsite.cli.common import render_settings

    assert settings.Settings().page_cache is True
    assert settings.parse("[subsite]\npage-cache = no\n").page_cache is False
    text = render_settings(settings.Settings(page_cache=False))
    assert "page-cache = no\n" in text and settings.parse(text, Path("t.ini")).page_cache is False


def test_trusted_headers():
    assert settings.Settings().trusted_headers == ("for", "proto")
    values = settings.parse("[subsite]\ntrusted-headers = Prefix,for , proto,prefix\n")
    assert values.trusted_headers == ("for", "proto", "prefix")
    assert settings.parse("[subsite]\ntrusted-headers = none\n").trusted_headers == ()
    every = "for, proto, host, port, prefix"
    assert settings.parse(f"[subsite]\ntrusted-headers = {every}\n").trusted_headers == settings.FORWARDED


@pytest.mark.parametrize("value", ["", "for proto", "for,,proto", "ssl", "for, none", "x-forwarded-for", "all"])
def test_trusted_headers_refused(value):
    with pytest.raises(settings.SettingsError) as caught:
        settings.parse(f"[subsite]\nprefix = /a\ntrusted-headers = {value}\n", "f.ini")
    assert str(caught.value).startswith(f"f.ini:3: trusted-headers = {value!r} is refused: list some of "
                                        "for, proto, host, port, prefix, separated by commas, or write none")


@pytest.mark.parametrize("headers", [(), ("for",), ("for", "proto"), settings.FORWARDED])
def test_rendered_template_keeps_trusted_headers(headers):
    from subsite.cli.common import render_settings

    values = settings.Settings(trusted_proxies=1, trusted_headers=headers)
    text = render_settings(values)
    assert f"trusted-headers = {', '.join(headers) or 'none'}\n" in text
    assert settings.parse(text, Path("t.ini")) == values
