"""scripts/cluster-soak's figures table, made from the lines the cluster tests print."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import entrypoints  # noqa: E402

cluster_soak = entrypoints.load("cluster-soak")

OUTPUT = """\
.....postgresql restarted under load: {'requests': 10352, '5xx': 74, 'p99 ms': 94.7}
.app2 lost power under load: {'requests': 40596, '5xx': 0}
the pytest summary: {'not': 'figures'}
"""


def test_each_figures_line_is_a_row_and_each_figure_a_column():
    assert cluster_soak.table(OUTPUT.splitlines()).splitlines() == [
        "item | requests | 5xx | p99 ms",
        "postgresql restarted under load | 10352 | 74 | 94.7",
        "app2 lost power under load | 40596 | 0 | ",
    ]


def test_a_run_that_printed_no_figures_says_so():
    assert cluster_soak.table(["1 failed in 3.0s"]) == "no figures were printed"


def test_the_load_must_be_long_enough_to_hold_a_fault(capsys):
    with pytest.raises(SystemExit) as exit_:
        cluster_soak.main(["--seconds", "1"])
    assert exit_.value.code == 2
    assert "--seconds must be between 4 and 3600, not 1" in capsys.readouterr().err
