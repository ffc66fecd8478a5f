"""Occlusion (Zeiler & Fergus, 2014), captum's ``Occlusion``: slide a window over each input,
replace what it covers by a baseline, and credit every covered element with the drop of the
target output; elements covered by several windows get the average of their drops."""
from __future__ import annotations

import itertools
import numbers

import numpy as np

import ember
from ember.explain import _common as c
from ember.explain.gradient import Attribution

__all__ = ["Occlusion"]


class Occlusion(Attribution):
    """Occlusion: ``attribute(inputs, sliding_window_shapes, strides=None, baselines=None,
    target=None, additional_forward_args=None, perturbations_per_eval=1)``.

    Windows start every ``strides`` elements (1 by default) along each non-batch dimension,
    with one more window at the end that is cut off by the border, as in captum (the count
    along a dimension is ``ceil((size - window) / stride) + 1``).
    """

    def attribute(self, inputs, sliding_window_shapes, strides=None, baselines=None,
                  target=None, additional_forward_args=None, perturbations_per_eval=1,
                  show_progress=False):
        """Occlusion attributions, shaped like ``inputs`` (in the inputs' dtype; captum
        returns float32). ``perturbations_per_eval`` windows are evaluated per forward call
        (a speed setting; the result is the same); ``show_progress`` shows a tqdm bar of the
        forward calls."""
        where = self._where()
        was_tuple, xs = c.is_tuple(inputs), c.as_tuple(inputs, where)
        xs = tuple(x.detach() for x in xs)
        windows = _per_input(sliding_window_shapes, xs, "sliding_window_shapes", where)
        strides = _per_input(1 if strides is None else strides, xs, "strides", where,
                             windows=windows)
        bs = c.format_baselines(baselines, xs, where)
        if not isinstance(perturbations_per_eval, int) or perturbations_per_eval < 1:
            raise ValueError(f"{where}: perturbations_per_eval must be an int >= 1, got "
                             f"{perturbations_per_eval!r}")
        args = c.format_args(additional_forward_args)
        n = xs[0].shape[0]
        with ember.no_grad():
            initial = c.run_forward(self.forward_func, xs, target, args, where)
            if initial.numel() != n:
                raise ValueError(f"{where}: the selected output must be one value per "
                                 f"example; got shape {tuple(initial.shape)} for a batch of "
                                 f"{n} (pass a target)")
            initial = initial.reshape(1, n)
            masks = [_masks(x.shape[1:], w, s) for x, w, s in zip(xs, windows, strides)]
            total = [ember.zeros(n, *x.shape[1:], dtype=x.dtype, device=x.device) for x in xs]
            bar = _progress(show_progress, sum(-(-len(m) // perturbations_per_eval)
                                               for m in masks))
            for i, (x, b) in enumerate(zip(xs, bs)):  # one input at a time, as captum
                for start in range(0, len(masks[i]), perturbations_per_eval):
                    bar.update()
                    m = ember.tensor(np.stack(masks[i][start:start + perturbations_per_eval]),
                                     dtype=x.dtype, device=x.device)  # (k, *shape)
                    k = m.shape[0]
                    m = m.unsqueeze(1)  # (k, 1, *shape)
                    occluded = x.unsqueeze(0) * (1 - m) + b * m  # (k, n, *shape)
                    batch = tuple(occluded.reshape(k * n, *x.shape[1:]) if j == i else
                                  ember.cat([other] * k, 0) for j, other in enumerate(xs))
                    out = c.run_forward(self.forward_func, batch, c.expand_target(target, k),
                                        c.expand_args(args, k), where)
                    diff = initial - out.reshape(k, n)
                    total[i] = total[i] + (diff.reshape(k, n, *[1] * (x.ndim - 1)) * m).sum(0)
            bar.close()
            counts = [ember.tensor(np.sum(mk, axis=0), dtype=x.dtype, device=x.device)
                      for mk, x in zip(masks, xs)]
        return c.format_output(was_tuple, [t / k for t, k in zip(total, counts)])


class _NoBar:
    def update(self):
        pass

    def close(self):
        pass


def _progress(show, total):
    if not show:
        return _NoBar()
    try:
        from tqdm.auto import tqdm
    except ImportError:
        raise ImportError("Occlusion: show_progress needs tqdm (pip install tqdm)") from None
    return tqdm(total=total, desc="Occlusion attribution")


def _per_input(value, xs, name, where, windows=None):
    """One tuple of ints per input, captum's formats: for one input a tuple of ints (or, for
    strides, an int); otherwise a tuple with one entry per input."""
    single = isinstance(value, numbers.Integral) or (
        isinstance(value, tuple) and all(isinstance(v, numbers.Integral) for v in value))
    if single and (len(xs) == 1 or isinstance(value, numbers.Integral)):
        value = (value,) * len(xs)
    if not (isinstance(value, tuple) and len(value) == len(xs)):
        raise ValueError(f"{where}: {name} must give one entry per input ({len(xs)}), got "
                         f"{value!r}")
    out = []
    for i, (v, x) in enumerate(zip(value, xs)):
        if isinstance(v, numbers.Integral) and windows is not None:
            v = (int(v),) * (x.ndim - 1)
        if not (isinstance(v, tuple) and len(v) == x.ndim - 1 and
                all(isinstance(e, numbers.Integral) and e >= 1 for e in v)):
            raise ValueError(f"{where}: {name} {v!r} must hold one positive int per non-batch "
                             f"dimension of the input of shape {tuple(x.shape)}")
        if windows is None and any(e > s for e, s in zip(v, x.shape[1:])):
            raise ValueError(f"{where}: sliding window {v} is larger than the input's "
                             f"{tuple(x.shape[1:])}")
        if windows is not None and any(s > w and size > w for s, w, size in
                                       zip(v, windows[i], x.shape[1:])):
            raise ValueError(f"{where}: stride {v} is larger than the sliding window "
                             f"{windows[i]}: some elements would never be occluded")
        out.append(tuple(int(e) for e in v))
    return out


def _masks(shape, window, stride):
    """The 0/1 masks of every window position (NumPy arrays of ``shape``)."""
    counts = [int(np.ceil((size - w) / s)) + 1 for size, w, s in zip(shape, window, stride)]
    masks = []
    for pos in itertools.product(*[range(k) for k in counts]):
        m = np.zeros(shape)
        m[tuple(slice(p * s, p * s + w) for p, s, w in zip(pos, stride, window))] = 1
        masks.append(m)
    return masks
