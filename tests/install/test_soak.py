"""Load, faults, hostile input and security, each item at CI size (soak.SHORT).

The items live in soak.py; `scripts/soak` runs them at full size (soak.FULL)
and prints their figures. One machine serves the items in order (on each init
system, as the ``machine`` fixture); the upgrade gets its own, holding release
1.0.0 and this one, and runs as unattended-upgrades would.
"""

import pytest

import soak
from conftest import MACHINES, deb_version, require_namespaces, split, suite_debs
from machine import Machine


@pytest.fixture(scope="module")
def site(machine):
    return soak.Site.install(machine)


def check(result):
    print(result.report())
    assert result.ok, result.report()


def test_mixed_load(site):
    check(soak.mixed_load(site, soak.SHORT))


def test_concurrent_admin_writes(site):
    check(soak.concurrent_writes(site, soak.SHORT))


def test_worker_kill_under_load(site):
    check(soak.worker_kills(site, soak.SHORT))


def test_master_kill_then_start(site):
    check(soak.master_kill(site, soak.SHORT))


def test_hostile_input(site):
    check(soak.hostile_input(site, soak.SHORT))


def test_stuck_request_harakiri(site):
    check(soak.stuck_request(site, soak.SHORT))


def test_security(site):
    check(soak.security(site, soak.SHORT))


@pytest.mark.parametrize("name", [name for name in MACHINES if name.startswith("bookworm-")])
def test_upgrade_under_load_from_release_1_0_0(previous_debs, name):
    require_namespaces()
    suite, init = split(name)
    debs = suite_debs(suite)
    with Machine.create(debs=[*previous_debs, *debs], download=["subsite"], init=init, suite=suite) as m:
        old = soak.Site.install(m, package=f"subsite={deb_version(previous_debs[0])}")
        check(soak.upgrade_under_load(old, soak.SHORT, version=deb_version(debs[0])))
