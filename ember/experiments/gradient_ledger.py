"""``gradient-ledger``: backpropagation as the lessons teach it, edge by edge.

One SGD step of a small MLP on one example, x -> h = W1 x + b1 -> a = sigmoid(h) ->
z = W2 a + b2 -> L = cross_entropy(z, t), drawn as a graph of scalars. Every edge from an
input u of a node to its output v carries

    upstream dL/dv  x  local dv/du  =  this edge's share of downstream dL/du

and a node's downstream gradient is the sum over its outgoing edges. The ledger walks the
graph backwards with the local gradients the lessons derive (dh_i/dW1_ij = x_j,
dh_i/dx_j = W1_ij, dh_i/db1_i = 1, da_i/dh_i = a_i (1 - a_i), dz_k/da_i = W2_ki, dz_k/dW2_ki
= a_i, dz_k/db2_k = 1, dL/dz_k = softmax(z)_k - [k = t]), then checks every node's gradient
against ember's autograd and against central finite differences of L (float64), and takes
the step.

Writes ``ledger.csv`` (one row per edge), ``nodes.csv`` (one row per node: value, ledger
gradient, autograd, finite difference, and for parameters the value after the step) and
``graph.png`` (the graph, edges by |upstream x local|, and ledger against finite
differences).
"""
from __future__ import annotations

import numpy as np

import ember
from ember.experiments import common

__all__ = ["PRESETS", "ledger", "run"]

PRESETS = {
    "quick": {"sizes": (3, 2, 2), "target": 1, "lr": 0.5, "eps": 1e-06, "seed": 0},
    "default": {"sizes": (3, 2, 2), "target": 1, "lr": 0.5, "eps": 1e-06, "seed": 0},
}


def _forward(v, bump=None):
    """The forward pass on NumPy values ``v`` (dict of arrays); ``bump = (node, index,
    delta)`` adds ``delta`` to one scalar as it is computed (for finite differences)."""
    v = {k: np.array(a, dtype=np.float64) if k != "t" else a for k, a in v.items()}

    def at(name):
        if bump is not None and bump[0] == name:
            v[name][bump[1]] += bump[2]

    for name in ("x", "W1", "b1", "W2", "b2"):
        at(name)
    v["h"] = v["W1"] @ v["x"] + v["b1"]
    at("h")
    v["a"] = 1 / (1 + np.exp(-v["h"]))
    at("a")
    v["z"] = v["W2"] @ v["a"] + v["b2"]
    at("z")
    z = v["z"] - v["z"].max()
    v["p"] = np.exp(z) / np.exp(z).sum()
    v["L"] = np.array(-np.log(v["p"][v["t"]]))
    return v


def _edges(v):
    """Every edge as (from node, index, to node, index, local gradient, its formula),
    listed output-first (reverse topological order of the 'to' nodes)."""
    n_in, n_h, n_out = len(v["x"]), len(v["h"]), len(v["z"])
    e = []
    for k in range(n_out):
        onehot = float(k == v["t"])
        e.append(("z", (k,), "L", (), v["p"][k] - onehot, f"p{k} - {onehot:g}"))
    for k in range(n_out):
        for i in range(n_h):
            e.append(("a", (i,), "z", (k,), v["W2"][k, i], f"W2[{k},{i}]"))
            e.append(("W2", (k, i), "z", (k,), v["a"][i], f"a{i}"))
        e.append(("b2", (k,), "z", (k,), 1.0, "1"))
    for i in range(n_h):
        e.append(("h", (i,), "a", (i,), v["a"][i] * (1 - v["a"][i]), f"a{i}(1 - a{i})"))
    for i in range(n_h):
        for j in range(n_in):
            e.append(("x", (j,), "h", (i,), v["W1"][i, j], f"W1[{i},{j}]"))
            e.append(("W1", (i, j), "h", (i,), v["x"][j], f"x{j}"))
        e.append(("b1", (i,), "h", (i,), 1.0, "1"))
    return e


def _label(node, idx):
    return node + ("[" + ",".join(map(str, idx)) + "]" if idx else "")


def ledger(sizes=(3, 2, 2), target=1, seed=0, eps=1e-6):
    """The ledger of one example: ``(values, edges, grads, autograd, numeric)``: the
    forward values, the edge rows ``[from, to, formula, upstream, local, upstream *
    local]``, the ledger's gradient per node, ember autograd's and the finite differences'
    (dicts ``label -> float``)."""
    rng = np.random.default_rng(seed)
    n_in, n_h, n_out = sizes
    v = {"x": rng.standard_normal(n_in), "W1": rng.standard_normal((n_h, n_in)),
         "b1": rng.standard_normal(n_h) * 0.1, "W2": rng.standard_normal((n_out, n_h)),
         "b2": rng.standard_normal(n_out) * 0.1, "t": int(target)}
    v = _forward(v)
    grad = {("L", ()): 1.0}
    rows = []
    for src, si, dst, di, local, formula in _edges(v):
        up = grad[(dst, di)]  # complete: every edge into dst's outputs came before
        grad[(src, si)] = grad.get((src, si), 0.0) + up * local
        rows.append([_label(src, si), _label(dst, di), formula, up, local, up * local])

    leaves = {k: ember.tensor(v[k], requires_grad=True) for k in ("x", "W1", "b1", "W2", "b2")}
    h = leaves["W1"] @ leaves["x"] + leaves["b1"]
    a = h.sigmoid()
    z = leaves["W2"] @ a + leaves["b2"]
    for t in (h, a, z):
        t.retain_grad()
    loss = ember.nn.functional.cross_entropy(z[None], ember.tensor([v["t"]]))
    loss.backward()
    tensors = dict(leaves, h=h, a=a, z=z)
    auto, numeric = {}, {}
    for (node, idx) in grad:
        lab = _label(node, idx)
        if node == "L":
            auto[lab], numeric[lab] = 1.0, 1.0
            continue
        auto[lab] = float(tensors[node].grad.numpy()[idx])
        plus = _forward(v, (node, idx, eps))["L"]
        minus = _forward(v, (node, idx, -eps))["L"]
        numeric[lab] = float((plus - minus) / (2 * eps))
    grads = {_label(n, i): g for (n, i), g in grad.items()}
    return v, rows, grads, auto, numeric


def run(out_dir, sizes, target, lr, eps, seed, preset=None):
    """Summary: ``max_err_autograd`` and ``max_err_numeric`` (largest |ledger - autograd|
    and |ledger - finite difference| over all nodes), ``edges``, ``nodes``, and
    ``loss_before`` / ``loss_after`` (L before and after the SGD step with ``lr``)."""
    plt = common.pyplot()
    v, rows, grads, auto, numeric = ledger(tuple(sizes), target, seed, eps)
    params = ("W1", "b1", "W2", "b2")
    after = {k: v[k] - lr * np.array([[grads[_label(k, (i, j))] for j in range(v[k].shape[1])]
                                      for i in range(v[k].shape[0])])
             if v[k].ndim == 2 else v[k] - lr * np.array([grads[_label(k, (i,))]
                                                           for i in range(len(v[k]))])
             for k in params}
    loss_after = float(_forward({**v, **after})["L"])
    node_rows = []
    for lab, g in grads.items():
        node = lab.split("[")[0]
        idx = tuple(int(s) for s in lab[len(node) + 1:-1].split(",")) if "[" in lab else ()
        value = float(v[node][idx])
        new = float(after[node][idx]) if node in params else ""
        node_rows.append([lab, value, g, auto[lab], numeric[lab], abs(g - numeric[lab]), new])
    edge_rows = [r + [grads[r[0]], auto[r[0]], numeric[r[0]]] for r in rows]
    csvs = [common.write_csv(out_dir, "ledger.csv",
                             ["from", "to", "local_formula", "upstream", "local",
                              "upstream_x_local", "downstream_total", "autograd",
                              "finite_difference"], edge_rows),
            common.write_csv(out_dir, "nodes.csv",
                             ["node", "value", "ledger_grad", "autograd", "finite_difference",
                              "abs_err_numeric", f"value_after_sgd_step_lr_{lr}"], node_rows)]
    err_auto = max(abs(grads[k] - auto[k]) for k in grads)
    err_num = max(abs(grads[k] - numeric[k]) for k in grads)
    figures = [_draw(plt, out_dir, v, rows, grads, numeric)]
    lines = [(f"{'from':<8} {'to':<6} {'local':<14} {'upstream':>11} {'x local':>11} "
             f"{'= share':>11} {'dL/dfrom':>11} {'numeric':>11}")]
    lines += [f"{r[0]:<8} {r[1]:<6} {r[2]:<14} {r[3]:>11.6f} {r[4]:>11.6f} {r[5]:>11.6f} "
              f"{r[6]:>11.6f} {r[8]:>11.6f}" for r in edge_rows]
    lines.append(f"max |ledger - autograd| {err_auto:.2e}, max |ledger - finite difference| "
                 f"{err_num:.2e}; loss {float(v['L']):.6f} -> {loss_after:.6f} after one "
                 f"SGD step (lr {lr})")
    summary = {"max_err_autograd": err_auto, "max_err_numeric": err_num, "edges": len(rows),
               "nodes": len(grads), "loss_before": float(v["L"]), "loss_after": loss_after}
    return figures, csvs, summary, "\n".join(lines)


def _draw(plt, out_dir, v, rows, grads, numeric):
    columns = [("x", "W1", "b1"), ("h",), ("a",), ("W2", "b2"), ("z",), ("L",)]
    pos = {}
    for c, names in enumerate(columns):
        labels = [lab for n in names for lab in grads if lab.split("[")[0] == n]
        for r, lab in enumerate(labels):
            pos[lab] = (c, (len(labels) - 1) / 2 - r)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 5.2),
                                  gridspec_kw={"width_ratios": [2.4, 1]})
    biggest = max(abs(r[5]) for r in rows) or 1.0
    for r in rows:
        (x0, y0), (x1, y1) = pos[r[0]], pos[r[1]]
        ax.plot([x0, x1], [y0, y1], color="tab:red" if r[5] < 0 else "tab:blue",
                lw=0.4 + 3 * abs(r[5]) / biggest, alpha=0.7)
    for lab, (px, py) in pos.items():
        ax.text(px, py, f"{lab}\n{grads[lab]:+.3f}", ha="center", va="center", fontsize=6.5,
                bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "0.5"})
    ax.set_title("dL/d(node) per scalar node; edge width |upstream x local| "
                 "(blue +, red -)", fontsize=9)
    ax.axis("off")
    keys = list(grads)
    ax2.plot([numeric[k] for k in keys], [grads[k] for k in keys], "o", ms=4)
    lim = max(abs(g) for g in grads.values()) * 1.1
    ax2.plot([-lim, lim], [-lim, lim], "k-", lw=0.5)
    ax2.set_xlabel("finite difference")
    ax2.set_ylabel("ledger (sum of upstream x local)")
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    return common.save_figure(fig, out_dir, "graph.png")
