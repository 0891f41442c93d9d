"""scripts/bench, once with very short runs, so the benchmark cannot rot.

The numbers of such a run mean nothing; what is checked is that every row of
the table was measured and nothing failed: no errors under load, no failed
request during the reload, the app back within seconds of a restart.
"""

import json
import subprocess

import pytest

from conftest import full_run, require_namespaces
from machine import CLEAN_ENV, REPO_DIR

pytestmark = pytest.mark.install

ROWS = [
    "front page (DB read + template) under /subsite/",
    "`_health` under /subsite/",
    "same app at / (result: prefix/root)",
    "nginx → gunicorn + SCRIPT_NAME (result: subsite/gunicorn)",
    "static file under /subsite/ by nginx",
    "same file by Flask (result: nginx/Flask)",
    "plain file at / by nginx (result: prefix/plain)",
    "bare WSGI callable",
    "failed requests during `service uwsgi reload`",
    "cold start",
    "resident memory per worker",
    ".deb build time",
    ".deb size",
    "install time",
]


@pytest.fixture(scope="module")
def bench(debs, tmp_path_factory):
    """Run scripts/bench on the built .debs; return (exit code, output, markdown, numbers)."""
    require_namespaces()
    if not full_run():
        pytest.skip("about 2.5 minutes: scripts/test --full runs it (CI keeps under its time)")
    out = tmp_path_factory.mktemp("bench")
    cmd = ["/usr/bin/python3", str(REPO_DIR / "scripts" / "bench"), "--duration", "1", "--rounds", "1",
           "--out", str(out / "BENCHMARKS.md"), "--json", str(out / "bench.json"),
           "--debs", *map(str, debs)]
    done = subprocess.run(cmd, env=CLEAN_ENV, capture_output=True, text=True, timeout=600)
    numbers = json.loads((out / "bench.json").read_text()) if (out / "bench.json").exists() else None
    md = (out / "BENCHMARKS.md").read_text() if (out / "BENCHMARKS.md").exists() else ""
    return done.returncode, done.stdout + done.stderr, md, numbers


def test_bench_runs_clean(bench):
    code, output, _, numbers = bench
    assert code == 0, output[-4000:]
    assert numbers is not None


def test_every_row_is_in_the_table(bench):
    _, output, md, _ = bench
    for row in ROWS:
        assert row in md, f"row {row!r} missing from the table:\n{md}"
    assert "ERROR" not in md
    assert "CPU:" in md and "Debian" in md   # the machine it ran on


def test_every_wrk_run_answered_without_errors(bench):
    numbers = bench[3]
    runs = numbers["throughput"]
    assert len(runs) == 24
    for key, run in runs.items():
        assert run["requests"] > 0 and run["rps"] > 0, key
        assert run["failures"] == 0, f"{key}: {run['failures']} failed requests"
        assert 0 < run["p50_ms"] <= run["p99_ms"], key


def test_reload_under_load_loses_nothing(bench):
    reload = bench[3]["reload"]
    assert reload["workers_replaced"], "service uwsgi reload did not replace the workers"
    assert reload["requests"] > 0
    assert reload["failures"] == 0, reload


def test_restart_memory_and_package_numbers_are_sane(bench):
    numbers = bench[3]
    # A stop that waits for SIGKILL (30 s) shows up here.
    for part, seconds in numbers["cold_start_s"].items():
        assert seconds and all(0 < s < 10 for s in seconds), (part, seconds)
    assert numbers["memory"] and all(0 < w["rss_kb"] < 200 * 1024 for w in numbers["memory"])
    assert numbers["install_s"] > 0 and numbers["deb_kib"] > 0


def test_tuning_sweep_measured_every_variant(bench):
    tuning = bench[3]["tuning"]
    for name in ("shipped", "workers = 2", "workers = 8", "threads = 2"):
        for page in ("front", "health"):
            assert tuning[name][page]["rps"] > 0 and tuning[name][page]["failures"] == 0, (name, page)
    assert tuning["shipped"]["reload"]["workers_replaced"]
    assert tuning["listen = 128"]["reload"]["workers_replaced"]
