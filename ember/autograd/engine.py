"""The backward pass: reverse topological order, unbroadcasting, accumulation, freeing."""
from __future__ import annotations

from ember.tensor import Tensor

_FREED = ("Trying to backward through the graph a second time (or to read its gradient "
          "after it was freed). Saved arrays are freed after .backward(); pass "
          "retain_graph=True to the first call if you need to backpropagate twice.")


def sum_to(g, shape):
    """Sum a broadcast gradient back to ``shape`` (undo NumPy broadcasting)."""
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape) if g.shape != tuple(shape) else g


def _topological_order(roots):
    """Nodes reachable from ``roots``, each before the nodes it depends on (iterative DFS)."""
    order, seen = [], set()
    for root in roots:
        if root in seen:
            continue
        seen.add(root)
        stack = [(root, _parents(root))]
        while stack:
            node, parents = stack[-1]
            for parent in parents:
                if parent not in seen:
                    seen.add(parent)
                    stack.append((parent, _parents(parent)))
                    break
            else:
                stack.pop()
                order.append(node)
    order.reverse()
    return order


def _parents(node):
    inputs = node.__dict__.get("inputs")
    if inputs is None:
        raise RuntimeError(_FREED)
    return iter([t.grad_fn for t, need in zip(inputs, node.needs_input_grad)
                 if need and t.grad_fn is not None])


def _check_versions(node):
    for version, expected, k, shape in node.__dict__.get("_versions", ()):
        if version[0] != expected:
            n = len(node.inputs)
            what = f"input {k}" if k < n else f"output {k - n}"
            raise RuntimeError(
                f"{node.name}: one of the values saved for the gradient ({what} of shape "
                f"{tuple(shape)}) was modified "
                f"by an in-place operation (version {expected} -> {version[0]}). Use the "
                "out-of-place form (x = x + y instead of x += y), or .clone() first.")


def _run_hooks(hooks, g):
    for hook in hooks:
        out = hook(Tensor._make(g))
        if out is not None:
            g = out.array if isinstance(out, Tensor) else out
    return g


def backward_inputs(inputs):
    """``backward(inputs=...)`` as a checked list: a Tensor or a non-empty sequence of
    tensors that require grad."""
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if not inputs:
        raise RuntimeError("backward(): `inputs` cannot be empty; pass None to accumulate "
                           "into every leaf")
    for t in inputs:
        if not t.requires_grad:
            raise RuntimeError(f"backward(): an input of shape {tuple(t.shape)} does not "
                               "require grad")
    return inputs


def _prune(order, inputs, run_targets):
    """The nodes of ``order`` that lead to ``inputs`` (kept in order), and those of them to
    run: nodes with an edge towards an input, plus the inputs' own nodes if
    ``run_targets`` (``backward`` runs them, ``grad`` only captures there, as PyTorch)."""
    leaves = {id(t) for t in inputs if t.grad_fn is None}
    targets = {t.grad_fn for t in inputs if t.grad_fn is not None}
    leads, run = set(targets), set(targets) if run_targets else set()
    for node in reversed(order):  # a node's parents come before it here
        for t, need in zip(node.inputs, node.needs_input_grad):
            if need and (id(t) in leaves if t.grad_fn is None else t.grad_fn in leads):
                leads.add(node)
                run.add(node)
                break
    return [node for node in order if node in leads], run


def run_backward(roots, root_grads, retain_graph=False, inputs=None, accumulate=False):
    """Backpropagate ``root_grads`` (arrays) from ``roots`` (Tensors).

    With ``inputs`` (a list of Tensors), only the nodes that lead to them run (the others
    are neither freed nor hooked), and their gradients are returned instead of accumulated
    into any ``.grad`` (this is ``ember.autograd.grad``); with ``accumulate=True`` too
    (``backward(inputs=...)``), leaf inputs accumulate into ``.grad`` and no other leaf
    does, and non-leaf inputs are made to ``retain_grad()`` as in PyTorch (their ``.grad``
    is filled after their hooks).
    """
    capture = None if inputs is None else {id(t): i for i, t in enumerate(inputs)}
    captured = None if inputs is None else [None] * len(inputs)
    borrowed = set()  # ids of arrays stored in some .grad without a copy during this pass
    grads = {}

    def deliver(t, g):
        if t.grad_fn is not None:
            slots = grads.get(t.grad_fn)
            if slots is None:
                meta = t.grad_fn.out_meta
                slots = grads[t.grad_fn] = [None] * (len(meta) if meta else 1)
            prev = slots[t._out_idx]
            slots[t._out_idx] = g if prev is None else prev + g
        elif capture is None:
            _accumulate_leaf(t, g, borrowed)
        elif id(t) in capture:
            if accumulate:
                _accumulate_leaf(t, g, borrowed)
            else:
                i = capture[id(t)]
                captured[i] = g if captured[i] is None else captured[i] + g

    order = _topological_order([r.grad_fn for r in roots if r.grad_fn is not None])
    if inputs is not None:
        order, run = _prune(order, inputs, accumulate)
        if accumulate:
            for t in inputs:
                t.retain_grad()
    for root, g in zip(roots, root_grads):
        deliver(root, g)

    for node in order:
        gys = grads.pop(node, None)
        if gys is None:
            continue
        hooks = node.__dict__.get("_hooks")
        if hooks:
            for idx, fns in hooks.items():
                if gys[idx] is not None:
                    gys[idx] = _run_hooks(fns, gys[idx])
        if capture is not None and not accumulate:
            for t, i in capture.items():
                tensor = inputs[i]
                if tensor.grad_fn is node and gys[tensor._out_idx] is not None:
                    captured[i] = gys[tensor._out_idx]
            if node not in run:
                continue
        _check_versions(node)
        if node.out_meta and node.materialize_grads:
            gys = [g if g is not None else node.xp.zeros(shape, dtype)
                   for g, (shape, dtype) in zip(gys, node.out_meta)]
        gxs = node.backward(*gys)
        if type(gxs) is not tuple:
            gxs = (gxs,)
        for t, gx, need in zip(node.inputs, gxs, node.needs_input_grad):
            if not need or gx is None:
                continue
            if gx.shape != t.array.shape:
                gx = sum_to(gx, t.array.shape)
            if gx.dtype != t.array.dtype:
                gx = gx.astype(t.array.dtype)
            deliver(t, gx)
        if not retain_graph:
            node.__dict__.clear()
    return captured


def _accumulate_leaf(t, g, borrowed):
    if not t.requires_grad:
        return
    if t._hooks:
        g = _run_hooks(t._hooks, g)
    if t.grad is None:
        # Own the memory: later accumulations and optimizers may write into it in place.
        if g.base is not None or id(g) in borrowed:
            g = g.copy()
        else:
            borrowed.add(id(g))  # kept without a copy; other nodes may still hold it
        t.grad = Tensor._make(g)
    elif id(t.grad.array) in borrowed:
        # the array may also be an upstream gradient still waiting in this pass
        borrowed.discard(id(t.grad.array))
        t.grad.array = t.grad.array + g
    else:
        t.grad.array += g
