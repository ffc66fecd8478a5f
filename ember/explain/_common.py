"""What the attribution methods share: captum's conventions for inputs (a Tensor or a tuple
of Tensors, batch first), targets, additional forward arguments and baselines, and the
gradient of the selected outputs with respect to the inputs."""
from __future__ import annotations

import numbers

import ember
from ember import backend


def is_tuple(inputs):
    return isinstance(inputs, tuple)


def as_tuple(inputs, where):
    """``inputs`` as a tuple of Tensors (a single Tensor becomes a 1-tuple)."""
    inputs = inputs if isinstance(inputs, tuple) else (inputs,)
    if not inputs or not all(isinstance(x, ember.Tensor) for x in inputs):
        got = ", ".join(type(x).__name__ for x in inputs) or "nothing"
        raise TypeError(f"{where}: inputs must be an ember Tensor or a tuple of Tensors, "
                        f"got {got}")
    if any(x.ndim == 0 for x in inputs):
        raise ValueError(f"{where}: inputs need a batch dimension first, got shapes "
                         f"{[tuple(x.shape) for x in inputs]}")
    return inputs


def format_output(was_tuple, outputs):
    return tuple(outputs) if was_tuple else outputs[0]


def format_args(args):
    """Additional forward arguments as a tuple (None stays None)."""
    if args is None:
        return None
    return args if isinstance(args, tuple) else (args,)


def expand_args(args, n, interleave=False):
    """Repeat the Tensor arguments ``n`` times along the batch (other values as they are):
    ``cat([a] * n)`` as captum's IntegratedGradients does, or each row ``n`` times in a row
    (``interleave``) as its NoiseTunnel does."""
    if args is None:
        return None
    return tuple((a.repeat_interleave(n, dim=0) if interleave else ember.cat([a] * n, 0))
                 if isinstance(a, ember.Tensor) else a for a in args)


def expand_target(target, n, interleave=False):
    """captum's ``_expand_target``: lists and many-element Tensors repeated ``n`` times."""
    if isinstance(target, list):
        return [t for t in target for _ in range(n)] if interleave else target * n
    if isinstance(target, ember.Tensor) and target.numel() > 1:
        return target.repeat_interleave(n, dim=0) if interleave else ember.cat([target] * n, 0)
    return target


def select_targets(output, target, where):
    """captum's ``_select_targets``: ``None`` keeps the output; an int or tuple picks that
    column of every example; a Tensor or list of one index per example picks one column per
    row of a 2-D output; a list of tuples picks ``output[(i, *t)]`` for each example ``i``."""
    if target is None:
        return output
    if not isinstance(output, ember.Tensor):
        raise TypeError(f"{where}: the forward function must return a Tensor, got "
                        f"{type(output).__name__}")
    n = output.shape[0] if output.ndim else 0
    if isinstance(target, ember.Tensor):
        if target.numel() == 1 and target.dtype.kind in "iu":
            target = int(target.item())
        elif target.ndim == 1 and target.numel() == n:
            target = [int(t) for t in target.tolist()]
        else:
            raise ValueError(f"{where}: a target Tensor must hold one index or one per "
                             f"example ({n}), got shape {tuple(target.shape)}")
    if isinstance(target, numbers.Integral):
        target = (int(target),)
    if isinstance(target, tuple):
        if len(target) > output.ndim - 1:
            raise ValueError(f"{where}: target {target} does not index an output of shape "
                             f"{tuple(output.shape)}")
        _check_range(target, output.shape[1:], where)
        return output[(slice(None), *target)]
    if isinstance(target, list):
        if len(target) != n:
            raise ValueError(f"{where}: {len(target)} targets for {n} examples (output shape "
                             f"{tuple(output.shape)})")
        if all(isinstance(t, numbers.Integral) for t in target):
            if output.ndim != 2:
                raise ValueError(f"{where}: one target per example needs a 2-D output, got "
                                 f"shape {tuple(output.shape)}")
            _check_range([(t,) for t in target], output.shape[1:], where, many=True)
            index = ember.tensor([[int(t)] for t in target], device=output.device)
            return output.gather(1, index).squeeze(-1)
        if all(isinstance(t, tuple) for t in target):
            _check_range(target, output.shape[1:], where, many=True)
            return ember.stack([output[(i, *t)] for i, t in enumerate(target)])
    raise TypeError(f"{where}: target must be None, an int, a tuple, a Tensor or a list of "
                    f"ints or tuples, got {target!r}")


def _check_range(index, shape, where, many=False):
    for t in index if many else [index]:
        for i, size in zip(t, shape):
            if isinstance(i, numbers.Integral) and not -size <= i < size:
                raise IndexError(f"{where}: target {t} is out of range for outputs of shape "
                                 f"(N, {', '.join(map(str, shape))})")


def run_forward(forward_func, inputs, target=None, args=None, where="attribute"):
    """``forward_func(*inputs, *args)`` with the target selected."""
    out = forward_func(*inputs, *(args or ()))
    return select_targets(out, target, where)


def gradients(forward_func, inputs, target=None, args=None, where="attribute"):
    """Gradients of the selected outputs (each example's scalar) with respect to ``inputs``
    (leaves made here, so the caller's tensors are untouched): captum's
    ``compute_gradients``."""
    leaves = tuple(x.detach().requires_grad_(True) for x in inputs)
    with ember.enable_grad():
        out = run_forward(forward_func, leaves, target, args, where)
        if out.ndim > 1 or (out.ndim == 1 and out.shape[0] != inputs[0].shape[0]):
            raise ValueError(f"{where}: the selected output must be one value per example; "
                             f"got shape {tuple(out.shape)} for a batch of "
                             f"{inputs[0].shape[0]} (pass a target)")
        return ember.autograd.grad(out, leaves, grad_outputs=ember.ones_like(out),
                                   allow_unused=True)


def format_baselines(baselines, inputs, where):
    """Baselines as a tuple, one per input: zeros where None, numbers or Tensors
    broadcastable to the input."""
    if baselines is None:
        return tuple(ember.zeros_like(x) for x in inputs)
    baselines = baselines if isinstance(baselines, tuple) else (baselines,)
    if len(baselines) != len(inputs):
        raise ValueError(f"{where}: {len(baselines)} baselines for {len(inputs)} inputs")
    for b, x in zip(baselines, inputs):
        if isinstance(b, ember.Tensor):
            if b.ndim > x.ndim or any(s not in (1, t) for s, t in
                                      zip(b.shape[::-1], x.shape[::-1])):
                raise ValueError(f"{where}: baseline of shape {tuple(b.shape)} does not "
                                 f"broadcast to the input's {tuple(x.shape)}")
        elif not isinstance(b, numbers.Real):
            raise TypeError(f"{where}: a baseline must be a number or a Tensor, got "
                            f"{type(b).__name__}")
    return baselines


def to_host(t):
    """A Tensor's values as a NumPy array."""
    return backend.to_numpy(t.detach().array)
