"""`subsite setup`'s decisions: which links it makes, and how it writes as root."""

import os
import pwd

import pytest

from subsite import files, layout, nginx
from subsite.cli import common, setup


@pytest.fixture
def links(tmp_path, monkeypatch):
    """The uWSGI and nginx enable links and their targets, under tmp_path."""
    for name in ("apps-available", "apps-enabled", "sites-available", "sites-enabled"):
        (tmp_path / name).mkdir()
    (tmp_path / "apps-available" / "subsite.ini").write_text("[uwsgi]\n")
    (tmp_path / "sites-available" / "subsite").write_text("server {}\n")
    monkeypatch.setattr(layout, "UWSGI_APP_FILE", tmp_path / "apps-available" / "subsite.ini")
    monkeypatch.setattr(layout, "UWSGI_APP_LINK", tmp_path / "apps-enabled" / "subsite.ini")
    monkeypatch.setattr(layout, "NGINX_SITE_FILE", tmp_path / "sites-available" / "subsite")
    monkeypatch.setattr(layout, "NGINX_SITE_LINK", tmp_path / "sites-enabled" / "subsite")
    monkeypatch.setattr(nginx, "test_config", lambda: None)
    return tmp_path


def test_first_install_enables_the_app_and_the_site(links):
    assert setup.enable_app() is True
    assert os.readlink(layout.UWSGI_APP_LINK) == "../apps-available/subsite.ini"
    assert os.readlink(layout.NGINX_SITE_LINK) == "../sites-available/subsite"


def test_a_site_the_admin_disabled_stays_disabled(links):
    setup.enable_app()
    layout.NGINX_SITE_LINK.unlink()
    assert setup.enable_app() is False          # an upgrade or dpkg-reconfigure
    assert not layout.NGINX_SITE_LINK.exists()


def test_after_remove_both_come_back(links):
    setup.enable_app()
    layout.UWSGI_APP_LINK.unlink()              # what `subsite disable` does
    layout.NGINX_SITE_LINK.unlink()
    assert setup.enable_app() is True
    assert layout.NGINX_SITE_LINK.is_symlink()


def test_the_admins_own_file_at_the_link_is_kept(links, capsys):
    layout.NGINX_SITE_LINK.write_text("server { listen 81; }\n")
    assert setup.enable_app() is False
    assert layout.NGINX_SITE_LINK.read_text() == "server { listen 81; }\n"
    assert "is not the package's link" in capsys.readouterr().err


def test_a_file_is_written_without_following_planted_links(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("root's secret\n")
    target = tmp_path / "state" / "debconf-prefix"
    target.parent.mkdir()
    # The names a fixed-name writer would use, and the target itself.
    for name in (".debconf-prefix.new", "debconf-prefix.tmp", "debconf-prefix"):
        (target.parent / name).symlink_to(victim)
    files.write_atomically(target, "/subsite\n", mode=0o600)
    assert victim.read_text() == "root's secret\n"
    assert not target.is_symlink() and target.read_text() == "/subsite\n"
    assert target.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in target.parent.iterdir() if not p.is_symlink()) == ["debconf-prefix"]


def test_ensure_dir_refuses_a_link_and_leaves_its_target(tmp_path):
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    (tmp_path / "uploads").symlink_to(private)
    with pytest.raises(common.Refused, match="uploads should be a directory but is a link"):
        common.ensure_dir(tmp_path / "uploads", mode=0o755)
    assert private.stat().st_mode & 0o777 == 0o700
    (tmp_path / "gone").symlink_to(tmp_path / "nowhere")
    with pytest.raises(common.Refused, match="gone should be a directory"):
        common.ensure_dir(tmp_path / "gone")


@pytest.mark.skipif(os.geteuid() != 0, reason="sets owners: needs root")
def test_the_state_dir_is_sticky_and_roots_nginx_dir_apart(tmp_path, monkeypatch):
    from subsite.settings import Settings

    monkeypatch.setattr(layout, "STATE_DIR", tmp_path / "lib")
    monkeypatch.setattr(layout, "NGINX_DIR", tmp_path / "lib-nginx")
    setup.prepare_dirs(Settings(uploads=tmp_path / "lib" / "uploads"))
    web = pwd.getpwnam(layout.WEB_USER)
    state, nginx_dir, uploads = (os.stat(tmp_path / name) for name in ("lib", "lib-nginx", "lib/uploads"))
    assert (state.st_uid, state.st_gid, state.st_mode & 0o7777) == (0, web.pw_gid, 0o1770)
    assert (nginx_dir.st_uid, nginx_dir.st_mode & 0o7777) == (0, 0o755)
    assert (uploads.st_uid, uploads.st_mode & 0o7777) == (web.pw_uid, 0o755)


@pytest.mark.skipif(os.geteuid() != 0, reason="sets owners: needs root")
def test_an_uploads_directory_the_admin_made_is_never_given_away(tmp_path, monkeypatch):
    theirs = tmp_path / "srv" / "board"
    theirs.mkdir(parents=True)
    with pytest.raises(common.Refused, match="does not give away a directory it did not make: chown www-data"):
        setup.prepare_uploads_dir(theirs)
    assert theirs.stat().st_uid == 0
    web = pwd.getpwnam(layout.WEB_USER)
    os.chown(theirs, web.pw_uid, web.pw_gid)
    setup.prepare_uploads_dir(theirs)                      # theirs, and www-data's: taken as it is
    new = tmp_path / "srv" / "new"
    setup.prepare_uploads_dir(new)                         # made here: the package's own
    assert new.stat().st_uid == web.pw_uid


def test_uploads_through_a_link_into_a_system_directory_are_refused(tmp_path, monkeypatch):
    link = tmp_path / "uploads"
    link.symlink_to("/etc")
    with pytest.raises(common.Refused, match="it leads to /etc"):
        setup.prepare_uploads_dir(link)


@pytest.mark.parametrize("found, refreshed", [(None, True), ("libpq.so.5", False)])
def test_the_linker_cache_is_refreshed_when_libpq_cannot_be_found_by_name(found, refreshed):
    # A libpq5 installed in this apt run: not in the cache before libc-bin's trigger.
    ran = []
    setup.find_libpq(find=lambda name: found, run=lambda cmd, check: ran.append(cmd))
    assert ran == ([["/sbin/ldconfig"]] if refreshed else [])


def test_a_linker_cache_that_cannot_be_refreshed_is_said_and_the_setup_goes_on(capsys):
    def missing(cmd, check):
        raise FileNotFoundError(2, "No such file or directory", cmd[0])
    setup.find_libpq(find=lambda name: None, run=missing)
    assert "could not run /sbin/ldconfig to find libpq" in capsys.readouterr().err
