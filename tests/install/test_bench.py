"""scripts/bench, once with very short runs, so the benchmark cannot rot.

The numbers of such a run mean nothing; what is checked is that every row of
the table was measured and nothing failed: no errors under load, no failed
request during the reload, the app back within seconds of a restart.
"""

import json
import subprocess

import pytest

from conftest import require_namespaces
from machine import CLEAN_ENV, REPO_DIR

pytestmark = pytest.mark.install

ROWS = [
    "front page (DB read + template) under /subsite/",
    "`_health` under /subsite/",
    "same app at /, side by side (result: prefix/root)",
    "nginx → gunicorn + SCRIPT_NAME (result: subsite/gunicorn)",
    "front page from the warm page cache under /subsite/",
    "(result: warm page cache/static file)",
    "(result: warm/cold)",
    "static file under /subsite/ by nginx",
    "same file by Flask (result: nginx/Flask)",
    "plain file at / by an nginx of its own, side by side (result: prefix/plain)",
    "bare WSGI callable",
    "page cache memory",
    "failed requests during `service uwsgi reload`",
    "cold start",
    "resident memory per uWSGI worker",
    ".deb build time",
    ".deb size",
    "install time",
    "release 1.0.0 in a root of its own, same rounds (result: this build/1.0.0)",
    "the front page's own CPU per request above `_health`'s",
    "the front page in process (`scripts/profile-front`",
]
# Smaller boards than the full run's (scripts/bench GROWTH_SIZES): filling a million
# posts would cost this run 20-45 s, and the code is the same.
GROWTH_SIZES = ("100", "1000", "10000")


def cells(numbers):
    """Every measured cell of the run: (name, cell)."""
    for part in ("throughput", "side"):
        for group, by_key in numbers[part].items():
            for key, cell in by_key.items():
                yield f"{group}: {key}", cell
    for size in GROWTH_SIZES:
        for page in ("front", "deep", "post"):
            yield f"growth {size}: {page}", numbers["growth"][size][page]


@pytest.fixture(scope="module")
def bench(debs, tmp_path_factory):
    """Run scripts/bench on the built .debs; return (exit code, output, markdown, numbers)."""
    require_namespaces()
    out = tmp_path_factory.mktemp("bench")
    cmd = ["/usr/bin/python3", str(REPO_DIR / "scripts" / "bench"), "--duration", "1", "--rounds", "1", "--settle", "0",
           "--board-sizes", ",".join(GROWTH_SIZES),
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
    assert "<!-- bench-growth:begin -->" in md and f"| deep | {int(GROWTH_SIZES[-1]):,} |" in md


def test_every_wrk_run_answered_without_errors(bench):
    numbers = bench[3]
    assert numbers["rounds"] == numbers["side_rounds"] == 1
    assert len(numbers["throughput"]) == 9 and len(numbers["side"]) == 7
    assert len(list(cells(numbers))) == 23 + 14 + 9
    for name, cell in cells(numbers):
        assert cell["requests"] > 0 and cell["rps"][1] > 0 and cell["cpu_us"][1] > 0, name
        assert cell["rps"][0] <= cell["rps"][1] <= cell["rps"][2], name
        assert cell["failures"] == 0, f"{name}: {cell['failures']} failed requests"
        assert 0 < cell["p50_ms"] <= cell["p99_ms"], name


def test_the_page_cache_was_measured(bench):
    numbers = bench[3]
    assert numbers["page_cache"]["keys_zone"] == "8m"
    assert numbers["page_cache"]["files"] > 0 and numbers["page_cache"]["disk_kib"] > 0
    warm, cold = numbers["throughput"]["cache 16"]["front-warm"], numbers["throughput"]["cache 16"]["front"]
    # Even in one short round, nginx's cache answers far faster than the app builds the page.
    assert warm["cpu_us"][1] < cold["cpu_us"][1], (warm, cold)


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
            cell = tuning[name][page]
            assert cell["rps"][1] > 0 and cell["failures"] == 0, (name, page)
    assert tuning["shipped"]["reload"]["workers_replaced"]
    assert tuning["listen = 128"]["reload"]["workers_replaced"]


def test_the_previous_release_was_measured_beside_this_build(bench):
    release = bench[3]["release"]
    assert release["version"] == "1.0.0" and release["rounds"] == 1
    assert set(release["cells"]) == {"front", "front-release", "health", "health-release"}
    for key, cell in release["cells"].items():
        assert cell["requests"] > 0 and cell["cpu_us"][1] > 0 and cell["failures"] == 0, key
    # Every request of the release's front page reaches its app: it has no page cache.
    assert release["cells"]["front-release"]["cpu_us"][1] > release["cells"]["health-release"]["cpu_us"][1]
    assert all(len(v) == 1 and v[0] > 0 for v in release["in_process"].values())
