"""The gradient ledger: upstream x local = downstream on every edge, checked."""
import csv
import os
from collections import defaultdict

import pytest

from ember.experiments import gradient_ledger as G
from ember.experiments import run_experiment


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return run_experiment("gradient-ledger", tmp_path_factory.mktemp("ledger"), quick=True)


def test_ledger_agrees_with_autograd_and_finite_differences(result):
    s = result.summary
    assert s["max_err_autograd"] < 1e-12
    assert s["max_err_numeric"] < 1e-7
    # 3-2-2: x->h 6, W1->h 6, b1 2, h->a 2, a->z 4, W2->z 4, b2 2, z->L 2
    assert s["edges"] == 28 and s["nodes"] == 3 + 6 + 2 + 2 + 2 + 4 + 2 + 2 + 1
    assert s["loss_after"] < s["loss_before"]


def test_every_edge_multiplies_and_every_node_sums(result):
    with open(os.path.join(result.out_dir, "ledger.csv")) as f:
        rows = list(csv.DictReader(f))
    total = defaultdict(float)
    for r in rows:
        share = float(r["upstream"]) * float(r["local"])
        assert share == pytest.approx(float(r["upstream_x_local"]), rel=1e-8, abs=1e-12)
        total[r["from"]] += share
    for r in rows:
        assert total[r["from"]] == pytest.approx(float(r["downstream_total"]), abs=1e-9)
        assert float(r["downstream_total"]) == pytest.approx(float(r["finite_difference"]),
                                                             abs=1e-7)


def test_bigger_graph_and_other_target():
    _, rows, grads, auto, numeric = G.ledger(sizes=(4, 3, 3), target=2, seed=3)
    assert len(rows) == 3 + (3 * 3 * 2 + 3) + 3 + (3 * 4 * 2 + 3)
    assert max(abs(grads[k] - numeric[k]) for k in grads) < 1e-7
    assert max(abs(grads[k] - auto[k]) for k in grads) < 1e-12


def test_files_and_table(result):
    assert [os.path.basename(p) for p in result.figures + result.csvs] == \
        ["graph.png", "ledger.csv", "nodes.csv"]
    assert "upstream" in result.table and "finite difference" in result.table
