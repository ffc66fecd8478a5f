"""The export's graph (ember/onnx/graph.py): value names, shapes that stay valid at other
sizes of the dynamic axes (Reshape targets, Expand shapes, constants made at the batch size)."""
import numpy as np
import pytest
from _onnx_roundtrip import import_oracles

import ember
from ember.onnx import graph as graph_module


@pytest.fixture(autouse=True)
def _oracles():
    import_oracles()


def test_reshape_targets():
    g = graph_module.Graph([], 17, {("x", 0): (5, 6)})
    g.reshape("a", (5, 4, 3), (5, 12), ((6, 4, 3), (6, 12)))
    g.reshape("a", (5, 4), (1, 5, 4, 1), ((6, 4), (1, 6, 4, 1)))
    g.reshape("a", (20, 3), (4, 5, 3), ((24, 3), (4, 6, 3)))
    g.reshape("a", (20, 3), (4, 5, 3))
    ops = [n.op_type for n in g.nodes]
    assert ops[0] == "Reshape" and g.initializers[g.nodes[0].input[1]].tolist() == [0, 12]
    assert g.nodes[1].op_type == "Unsqueeze"
    assert g.initializers[g.nodes[1].input[1]].tolist() == [0, 3]
    assert ops[2:6] == ["Shape", "Gather", "Concat", "Reshape"]  # 5 is read at run time
    assert g.initializers[g.nodes[-1].input[1]].tolist() == [4, 5, 3]  # static
    assert g.reshape("a", (2, 3), (2, 3)) == "a"
    with pytest.raises(ember.onnx.ExportError, match="empty tensor"):
        g.reshape("a", (0, 3), (3, 0))
    with pytest.raises(ember.onnx.ExportError, match="several merged dynamic dims"):
        g.reshape("a", (10, 2), (2, 10), ((12, 2), (3, 8)))


def test_a_merged_dynamic_dim_is_inferred():
    g = graph_module.Graph([], 17, {("x", 0): (5, 6)})
    g.reshape("a", (5, 4, 3), (20, 3), ((6, 4, 3), (24, 3)))
    assert g.initializers[g.nodes[0].input[1]].tolist() == [-1, 3]


def test_ones_moved():
    assert graph_module._ones_moved((1, 5, 4), (5, 4)) == ("Squeeze", [0])
    assert graph_module._ones_moved((5, 4), (5, 1, 4, 1)) == ("Unsqueeze", [1, 3])
    assert graph_module._ones_moved((5, 4), (4, 5)) is None
    assert graph_module._ones_moved((5, 1, 4), (5, 4, 1)) is None


def test_shape_vector_reads_dynamic_dims_and_refuses_unknown_ones():
    g = graph_module.Graph([], 17, {("x", 1): (5, 6)})
    assert g.initializers[g.shape_vector((2, 3), (2, 3))].tolist() == [2, 3]
    g.shape_vector((2, 5), (2, 6))
    assert [n.op_type for n in g.nodes] == ["Shape", "Gather", "Concat"]
    with pytest.raises(ember.onnx.ExportError, match="no dynamic input dim gives"):
        g.shape_vector((7,), (9,))


def test_constants_made_at_the_batch_size():
    g = graph_module.Graph([], 17, {("x", 0): (3, 4)})
    zeros = np.zeros((3, 2), np.float32)
    g.batch_dependent_constant(zeros, (4, 2), "Add")
    assert g.traced(zeros) and g.nodes[-1].op_type == "Expand"
    with pytest.raises(ember.onnx.ExportError, match="Add uses a constant of shape \\(3, 2\\)"):
        g.batch_dependent_constant(np.arange(6.0).reshape(3, 2), (4, 2), "Add")


@pytest.mark.parametrize("make, ops", [
    (lambda n: np.arange(2, 2 + n), ["Range"]),
    (lambda n: np.tri(n, n, dtype=bool), ["Trilu", "Cast"]),
    (lambda n: np.tri(n, n + 2, 2, dtype=bool), ["Trilu", "Cast"]),  # bottom-right
    (lambda n: np.where(np.tri(n, n, dtype=bool), 0.0, -np.inf).astype(np.float32),
     ["Trilu", "Cast", "Where"]),
])
def test_ranges_and_causal_masks_follow_a_dynamic_length(make, ops):
    g = graph_module.Graph([], 17, {("x", 1): (5, 7), ("y", 1): (7, 9)})
    const = make(5)
    g.batch_dependent_constant(const, make(7).shape, "Op")
    got = [n.op_type for n in g.nodes]
    assert got[-len(ops):] == ops
    with pytest.raises(ember.onnx.ExportError, match="neither repeated along them, a range"):
        g.batch_dependent_constant(np.tri(5, 5, -1), (7, 7), "Op")


def test_parameters_are_named_by_their_keys_also_through_views():
    w = np.arange(6.0).reshape(2, 3)
    g = graph_module.Graph([("fc.weight", w)], 17, {})
    assert g.name(w) == "fc.weight" and g.name(w[:]) == "fc.weight"
    assert g.name(w.T).startswith("const_") and g.name(np.ones(2)).startswith("const_")
    assert set(g.initializers) >= {"fc.weight"}
