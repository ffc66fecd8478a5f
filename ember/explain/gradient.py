"""Gradient attributions with captum's names and arguments: ``Saliency``, ``InputXGradient``,
``IntegratedGradients`` (Riemann rules and Gauss-Legendre) and ``NoiseTunnel`` (SmoothGrad,
SmoothGrad², VarGrad).

Every ``attribute`` takes ``inputs`` as a Tensor or a tuple of Tensors (batch first) and
returns the same structure; ``target`` follows captum (an int picks one output column for
every example, a list or 1-D Tensor one column per example).
"""
from __future__ import annotations

import warnings

import numpy as np

import ember
from ember.explain import _common as c

__all__ = [
    "SUPPORTED_METHODS",
    "Attribution",
    "GradientAttribution",
    "InputXGradient",
    "IntegratedGradients",
    "NoiseTunnel",
    "Saliency",
    "approximation_parameters",
]

SUPPORTED_RIEMANN_METHODS = ["riemann_left", "riemann_right", "riemann_middle",
                             "riemann_trapezoid"]
SUPPORTED_METHODS = SUPPORTED_RIEMANN_METHODS + ["gausslegendre"]


class Attribution:
    """Base of the attribution methods: holds ``forward_func`` (a model or any callable
    returning a Tensor)."""

    def __init__(self, forward_func):
        if not callable(forward_func):
            raise TypeError(f"{type(self).__name__}: forward_func must be callable, got "
                            f"{type(forward_func).__name__}")
        self.forward_func = forward_func

    def has_convergence_delta(self):
        return False

    @property
    def multiplies_by_inputs(self):
        return False

    def _where(self):
        return f"{type(self).__name__}.attribute"


class GradientAttribution(Attribution):
    """An attribution computed from gradients of the output with respect to the inputs."""

    def gradient_func(self, forward_fn, inputs, target_ind=None, additional_forward_args=None):
        return c.gradients(forward_fn, inputs, target_ind,
                           c.format_args(additional_forward_args), self._where())


class Saliency(GradientAttribution):
    """Simonyan et al. (2013): the gradient of the target output with respect to the input,
    its absolute value by default (``abs=True``)."""

    def attribute(self, inputs, target=None, abs=True, additional_forward_args=None):
        """Returns the (absolute) input gradients, shaped like ``inputs``."""
        was_tuple, xs = c.is_tuple(inputs), c.as_tuple(inputs, self._where())
        grads = self.gradient_func(self.forward_func, xs, target, additional_forward_args)
        return c.format_output(was_tuple, [g.abs() if abs else g for g in grads])


class InputXGradient(GradientAttribution):
    """The input times its gradient (Shrikumar et al., 2016)."""

    def attribute(self, inputs, target=None, additional_forward_args=None):
        """Returns ``inputs * gradient``, shaped like ``inputs``."""
        was_tuple, xs = c.is_tuple(inputs), c.as_tuple(inputs, self._where())
        grads = self.gradient_func(self.forward_func, xs, target, additional_forward_args)
        return c.format_output(was_tuple, [x.detach() * g for x, g in zip(xs, grads)])

    @property
    def multiplies_by_inputs(self):
        return True


def approximation_parameters(method):
    """``(step_sizes, alphas)``: two functions of the number of steps ``n``, captum's rules.

    Riemann rules take ``n`` equal steps of ``1/n`` (the trapezoid halves the first and the
    last) at alphas ``linspace(0, 1 - 1/n, n)`` (left), ``linspace(1/n, 1, n)`` (right),
    ``linspace(1/(2n), 1 - 1/(2n), n)`` (middle), ``linspace(0, 1, n)`` (trapezoid);
    ``gausslegendre`` uses the ``n``-point Gauss-Legendre nodes and weights mapped to
    [0, 1]. Values are float64 (captum rounds them to float32: a relative difference of at
    most 6e-8 each).
    """
    if method in SUPPORTED_RIEMANN_METHODS:
        rule = method.split("_")[-1]

        def step_sizes(n):
            if n <= 1:
                raise ValueError(f"IntegratedGradients: method {method!r} needs n_steps > 1, "
                                 f"got {n}")
            deltas = [1 / n] * n
            if rule == "trapezoid":
                deltas[0] /= 2
                deltas[-1] /= 2
            return deltas

        def alphas(n):
            step_sizes(n)
            lo, hi = {"trapezoid": (0, 1), "left": (0, 1 - 1 / n), "right": (1 / n, 1),
                      "middle": (1 / (2 * n), 1 - 1 / (2 * n))}[rule]
            return np.linspace(lo, hi, n).tolist()
        return step_sizes, alphas
    if method == "gausslegendre":
        def nodes(n):
            if n <= 0:
                raise ValueError(f"IntegratedGradients: gausslegendre needs n_steps > 0, "
                                 f"got {n}")
            return np.polynomial.legendre.leggauss(n)
        return (lambda n: (0.5 * nodes(n)[1]).tolist(),
                lambda n: (0.5 * (1 + nodes(n)[0])).tolist())
    raise ValueError(f"IntegratedGradients: method must be one of {SUPPORTED_METHODS}, "
                     f"got {method!r}")


class IntegratedGradients(GradientAttribution):
    """Sundararajan et al. (2017): ``(x - x') * integral_0^1 dF(x' + a (x - x'))/dx da``,
    the integral approximated by ``n_steps`` points of ``method`` (captum's rules, see
    :func:`approximation_parameters`). ``multiply_by_inputs=False`` leaves out the
    ``(x - x')`` factor (the "global" attribution)."""

    def __init__(self, forward_func, multiply_by_inputs=True):
        super().__init__(forward_func)
        self._multiply_by_inputs = multiply_by_inputs

    @property
    def multiplies_by_inputs(self):
        return self._multiply_by_inputs

    def has_convergence_delta(self):
        return True

    def attribute(self, inputs, baselines=None, target=None, additional_forward_args=None,
                  n_steps=50, method="gausslegendre", internal_batch_size=None,
                  return_convergence_delta=False):
        """Integrated gradients, shaped like ``inputs``; with ``return_convergence_delta``
        also ``sum(attributions) - (F(x) - F(x'))`` per example (completeness).

        ``baselines`` (default zeros): a number or a Tensor broadcastable to each input.
        ``internal_batch_size`` evaluates the ``n_steps * N`` scaled inputs about this many
        at a time (whole steps, at least one; the result is the same).
        """
        where = self._where()
        was_tuple, xs = c.is_tuple(inputs), c.as_tuple(inputs, where)
        bs = c.format_baselines(baselines, xs, where)
        if not isinstance(n_steps, int) or n_steps < 0:
            raise ValueError(f"{where}: n_steps must be a non-negative int, got {n_steps!r}")
        step_fn, alpha_fn = approximation_parameters(method)
        steps, alphas = step_fn(n_steps), alpha_fn(n_steps)
        xs = tuple(x.detach() for x in xs)
        args = c.format_args(additional_forward_args)
        n = xs[0].shape[0]
        if internal_batch_size is not None and internal_batch_size < n:
            warnings.warn(f"{where}: internal_batch_size ({internal_batch_size}) is less than "
                          f"the number of examples; using {n} (one step per batch)",
                          stacklevel=2)
        per_call = n_steps if internal_batch_size is None else \
            max(1, internal_batch_size // n)
        totals = [None] * len(xs)
        for s in range(0, n_steps, per_call):
            a, w = alphas[s:s + per_call], steps[s:s + per_call]
            scaled = tuple(ember.cat([b + alpha * (x - b) for alpha in a], 0)
                           for x, b in zip(xs, bs))
            grads = self.gradient_func(self.forward_func, scaled,
                                       c.expand_target(target, len(a)),
                                       c.expand_args(args, len(a)))
            for i, g in enumerate(grads):
                weights = ember.tensor(w, dtype=g.dtype, device=g.device)
                part = (g.reshape(len(a), -1) * weights.reshape(len(a), 1)).reshape(
                    len(a), n, *g.shape[1:]).sum(0)
                totals[i] = part if totals[i] is None else totals[i] + part
        if self._multiply_by_inputs:
            attributions = [t * (x - b) for t, x, b in zip(totals, xs, bs)]
        else:
            attributions = totals
        out = c.format_output(was_tuple, attributions)
        if not return_convergence_delta:
            return out
        delta = self.compute_convergence_delta(attributions, bs, xs, target, args)
        return out, delta

    def compute_convergence_delta(self, attributions, start_point, end_point, target=None,
                                  additional_forward_args=None):
        """``sum(attributions) - (F(end) - F(start))`` per example (captum's definition)."""
        args = c.format_args(additional_forward_args)
        with ember.no_grad():
            n = end_point[0].shape[0]
            starts = tuple(b if isinstance(b, ember.Tensor) and b.shape[:1] == (n,) else
                           ember.zeros_like(x) + b for b, x in zip(start_point, end_point))
            hi = c.run_forward(self.forward_func, end_point, target, args, self._where())
            lo = c.run_forward(self.forward_func, starts, target, args, self._where())
            total = sum(a.reshape(n, -1).sum(1) for a in attributions)
            return total - (hi.reshape(n) - lo.reshape(n))


class NoiseTunnel(Attribution):
    """SmoothGrad (Smilkov et al., 2017) around any attribution method: the attributions of
    ``nt_samples`` noisy copies ``x + N(0, stdevs^2)`` of each example, averaged
    (``smoothgrad``), their squares averaged (``smoothgrad_sq``) or their variance
    (``vargrad``). The noise comes from ember's seeded generator (``ember.manual_seed``)."""

    def __init__(self, attribution_method):
        if not isinstance(attribution_method, Attribution):
            raise TypeError(f"NoiseTunnel: attribution_method must be an ember.explain "
                            f"attribution, got {type(attribution_method).__name__}")
        self.attribution_method = attribution_method
        self.is_delta_supported = attribution_method.has_convergence_delta()
        self.is_gradient_method = isinstance(attribution_method, GradientAttribution)
        super().__init__(attribution_method.forward_func)

    @property
    def multiplies_by_inputs(self):
        return self.attribution_method.multiplies_by_inputs

    def has_convergence_delta(self):
        return self.is_delta_supported

    def attribute(self, inputs, nt_type="smoothgrad", nt_samples=5, nt_samples_batch_size=None,
                  stdevs=1.0, draw_baseline_from_distrib=False, **kwargs):
        """The smoothed attributions, shaped like ``inputs``; ``kwargs`` go to the wrapped
        method's ``attribute`` (targets, baselines and Tensor arguments are repeated for the
        noisy copies, each example's copies next to each other, as captum does).

        ``draw_baseline_from_distrib``: the Tensor baselines are a set of reference inputs
        (M, ...); every noisy copy gets one of them drawn at random (ember's generator).
        ``return_convergence_delta=True`` (for a method that has one, such as
        IntegratedGradients) also returns the delta of every noisy copy, (N * nt_samples,).
        """
        where = self._where()
        if nt_type not in ("smoothgrad", "smoothgrad_sq", "vargrad"):
            raise ValueError(f"{where}: nt_type must be 'smoothgrad', 'smoothgrad_sq' or "
                             f"'vargrad', got {nt_type!r}")
        if not isinstance(nt_samples, int) or nt_samples < 1:
            raise ValueError(f"{where}: nt_samples must be a positive int, got {nt_samples!r}")
        with_delta = bool(kwargs.get("return_convergence_delta"))
        if with_delta and not self.is_delta_supported:
            raise ValueError(f"{where}: {type(self.attribution_method).__name__} has no "
                             "convergence delta (return_convergence_delta)")
        was_tuple, xs = c.is_tuple(inputs), c.as_tuple(inputs, where)
        stds = stdevs if isinstance(stdevs, tuple) else (stdevs,) * len(xs)
        if len(stds) != len(xs) or not all(isinstance(s, (int, float)) for s in stds):
            raise ValueError(f"{where}: stdevs must be a float or a tuple of one float per "
                             f"input ({len(xs)}), got {stdevs!r}")
        batch = nt_samples if nt_samples_batch_size is None else \
            min(nt_samples, nt_samples_batch_size)
        sums, sums_sq, deltas = [0] * len(xs), [0] * len(xs), []
        done = 0
        while done < nt_samples:
            k = min(batch, nt_samples - done)
            noisy = tuple(self._add_noise_to_input(x.detach(), float(s), k)
                          for x, s in zip(xs, stds))
            attrs = self.attribution_method.attribute(
                noisy if was_tuple else noisy[0],
                **self._expand(kwargs, k, xs[0].shape[0], draw_baseline_from_distrib))
            if with_delta:
                attrs, delta = attrs
                deltas.append(delta)
            attrs = attrs if isinstance(attrs, tuple) else (attrs,)
            for i, a in enumerate(attrs):
                a = a.reshape(xs[0].shape[0], k, *a.shape[1:])
                sums[i] = sums[i] + a.sum(1)
                sums_sq[i] = sums_sq[i] + (a * a).sum(1)
            done += k
        mean = [s * (1 / nt_samples) for s in sums]
        mean_sq = [s * (1 / nt_samples) for s in sums_sq]
        out = mean if nt_type == "smoothgrad" else mean_sq if nt_type == "smoothgrad_sq" \
            else [q - m * m for m, q in zip(mean, mean_sq)]
        out = c.format_output(was_tuple, out)
        return (out, ember.cat(deltas, 0)) if with_delta else out

    @staticmethod
    def _add_noise_to_input(input, stdev, nt_samples_partition):
        """``nt_samples_partition`` noisy copies of every example, each example's next to
        each other."""
        noise = ember.randn(input.shape[0] * nt_samples_partition, *input.shape[1:],
                            dtype=input.dtype, device=input.device) * stdev
        return input.repeat_interleave(nt_samples_partition, dim=0) + noise

    @staticmethod
    def _expand(kwargs, k, n, draw_baseline_from_distrib=False):
        out = dict(kwargs)
        if "target" in out:
            out["target"] = c.expand_target(out["target"], k, interleave=True)
        if out.get("additional_forward_args") is not None:
            out["additional_forward_args"] = c.expand_args(
                c.format_args(out["additional_forward_args"]), k, interleave=True)
        if out.get("baselines") is not None:
            bs = out["baselines"] if isinstance(out["baselines"], tuple) else \
                (out["baselines"],)
            if draw_baseline_from_distrib:
                bs = tuple(b[ember.randint(0, b.shape[0], (n * k,), device=b.device)]
                           if isinstance(b, ember.Tensor) and b.ndim else b for b in bs)
            else:
                bs = tuple(b.repeat_interleave(k, dim=0) if isinstance(b, ember.Tensor) and
                           b.ndim and b.shape[0] == n else b for b in bs)
            out["baselines"] = bs if isinstance(out["baselines"], tuple) else bs[0]
        return out
