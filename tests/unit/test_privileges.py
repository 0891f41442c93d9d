"""run_as: a step in a child process as another user, its result or error sent back as JSON."""

import os
import pwd

import pytest

from subsite import privileges

ME = pwd.getpwuid(os.geteuid()).pw_name


class Expected(Exception):
    pass


def test_returns_the_result_of_the_child():
    assert privileges.run_as(ME, lambda a, b=0: {"sum": a + b, "pid": os.getpid()}, 2, b=3)["sum"] == 5
    assert privileges.run_as(ME, os.getpid) != os.getpid()


def test_an_expected_error_is_raised_again_by_class():
    def fails():
        raise Expected("the message for the admin")

    with pytest.raises(Expected, match="the message for the admin"):
        privileges.run_as(ME, fails, expected=(Expected,))


def test_any_other_error_becomes_child_failed():
    with pytest.raises(privileges.ChildFailed, match="ZeroDivisionError"):
        privileges.run_as(ME, lambda: 1 / 0)


def test_a_result_that_is_not_json_is_refused():
    with pytest.raises(privileges.ChildFailed, match="cannot be sent"):
        privileges.run_as(ME, lambda: object())


def test_a_child_that_dies_is_reported():
    with pytest.raises(privileges.ChildFailed, match="without a result"):
        privileges.run_as(ME, lambda: os._exit(9))


def test_descriptors_opened_before_stay_open_in_the_child(tmp_path):
    fd = os.open(tmp_path / "out", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        privileges.run_as(ME, lambda: os.write(fd, b"written by the child"))
    finally:
        os.close(fd)
    assert (tmp_path / "out").read_bytes() == b"written by the child"


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping to another user needs root")
def test_root_drops_to_the_user_for_good():
    def identity():
        try:
            os.setuid(0)
            regained = True
        except PermissionError:
            regained = False
        return [os.getuid(), os.geteuid(), os.getgid(), os.getgroups(), regained]

    nobody = pwd.getpwnam("nobody")
    assert privileges.run_as("nobody", identity) == [nobody.pw_uid, nobody.pw_uid, nobody.pw_gid, [], False]
