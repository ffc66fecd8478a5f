"""Saliency, InputXGradient, IntegratedGradients and NoiseTunnel against captum (float64, a
batch with one target per example), a finite-difference check and the error paths."""
import numpy as np
import pytest
from _explain import TARGETS, assert_same, import_captum, twins

import ember
from ember.explain import InputXGradient, IntegratedGradients, NoiseTunnel, Saliency
from ember.explain.gradient import SUPPORTED_METHODS, approximation_parameters

pytestmark = pytest.mark.filterwarnings("ignore:Input Tensor")


@pytest.fixture(scope="module")
def nets():
    return (*twins(), import_captum())


@pytest.mark.parametrize("target", [2, TARGETS, "tensor"])
def test_saliency_and_input_x_gradient_match_captum(nets, target):
    em, tm, x, tx, ca = nets
    import torch
    et, tt = (ember.tensor(TARGETS), torch.tensor(TARGETS)) if target == "tensor" else \
        (target, target)
    for abs_ in (True, False):
        assert_same(Saliency(em).attribute(x, target=et, abs=abs_),
                    ca.Saliency(tm).attribute(tx, target=tt, abs=abs_), what="Saliency")
    assert_same(InputXGradient(em).attribute(x, target=et),
                ca.InputXGradient(tm).attribute(tx, target=tt), what="InputXGradient")


def test_tuple_inputs_and_additional_forward_args(nets):
    em, tm, x, tx, ca = nets
    import torch
    rng = np.random.default_rng(1)
    y, scale = rng.normal(size=(4, 2, 8, 8)), rng.uniform(0.5, 2, size=(4, 1))

    def ember_f(a, b, s):
        return em(a * b.tanh()) * s

    def torch_f(a, b, s):
        return tm(a * b.tanh()) * s

    ours = Saliency(ember_f).attribute((x, ember.tensor(y)), TARGETS, False,
                                       additional_forward_args=ember.tensor(scale))
    theirs = ca.Saliency(torch_f).attribute((tx, torch.tensor(y)), TARGETS, False,
                                            additional_forward_args=torch.tensor(scale))
    assert isinstance(ours, tuple) and len(ours) == 2
    assert_same(ours, theirs, what="Saliency of two inputs")
    ours = IntegratedGradients(ember_f).attribute(
        (x, ember.tensor(y)), (0.5, ember.tensor(y[:1])), TARGETS, ember.tensor(scale),
        n_steps=5, method="riemann_middle")
    theirs = ca.IntegratedGradients(torch_f).attribute(
        (tx, torch.tensor(y)), (0.5, torch.tensor(y[:1])), TARGETS, torch.tensor(scale),
        n_steps=5, method="riemann_middle")
    assert_same(ours, theirs, what="IntegratedGradients of two inputs")


def test_saliency_is_the_finite_difference_gradient(nets):
    em, _, x, _, _ = nets
    grad = Saliency(em).attribute(x[:1], target=3, abs=False).numpy()
    flat, eps = x[:1].numpy().ravel(), 1e-6
    numeric = np.empty_like(flat)
    for i in range(0, flat.size, 7):  # every 7th pixel keeps it fast
        hi, lo = flat.copy(), flat.copy()
        hi[i] += eps
        lo[i] -= eps
        with ember.no_grad():
            f = [em(ember.tensor(v.reshape(x[:1].shape)))[0, 3].item() for v in (hi, lo)]
        numeric[i] = (f[0] - f[1]) / (2 * eps)
    np.testing.assert_allclose(grad.ravel()[::7], numeric[::7], rtol=1e-6, atol=1e-8)


def test_approximation_parameters_are_captums():
    from captum.attr._utils.approximation_methods import approximation_parameters as theirs
    for method in SUPPORTED_METHODS:
        for n in (2, 3, 7, 50):
            for ours_fn, theirs_fn in zip(approximation_parameters(method), theirs(method)):
                np.testing.assert_allclose(ours_fn(n), theirs_fn(n), rtol=1e-7, atol=1e-8)
    steps, alphas = approximation_parameters("riemann_trapezoid")
    assert steps(4) == [0.125, 0.25, 0.25, 0.125] and alphas(3) == [0.0, 0.5, 1.0]


@pytest.mark.parametrize("method", SUPPORTED_METHODS)
def test_integrated_gradients_match_captum(nets, method):
    em, tm, x, tx, ca = nets
    ours, delta = IntegratedGradients(em).attribute(x, target=TARGETS, n_steps=6,
                                                    method=method,
                                                    return_convergence_delta=True)
    theirs, their_delta = ca.IntegratedGradients(tm).attribute(
        tx, target=TARGETS, n_steps=6, method=method, return_convergence_delta=True)
    assert_same(ours, theirs, what=method)
    assert_same(delta, their_delta, atol=1e-7, what=f"{method} convergence delta")


def test_integrated_gradients_options(nets):
    em, tm, x, tx, ca = nets
    import torch
    base = np.random.default_rng(2).normal(size=(1, 2, 8, 8))
    kw = {"target": TARGETS, "n_steps": 5}
    ours = IntegratedGradients(em, multiply_by_inputs=False).attribute(
        x, ember.tensor(base), **kw)
    theirs = ca.IntegratedGradients(tm, multiply_by_inputs=False).attribute(
        tx, torch.tensor(base), **kw)
    assert_same(ours, theirs, what="multiply_by_inputs=False, a tensor baseline")
    whole = IntegratedGradients(em).attribute(x, 0.25, **kw)
    split = IntegratedGradients(em).attribute(x, 0.25, internal_batch_size=8, **kw)
    np.testing.assert_allclose(split.numpy(), whole.numpy(), rtol=1e-12, atol=1e-14)
    with pytest.warns(UserWarning, match="internal_batch_size .2. is less than the number"):
        small = IntegratedGradients(em).attribute(x, 0.25, internal_batch_size=2, **kw)
    np.testing.assert_allclose(small.numpy(), whole.numpy(), rtol=1e-12, atol=1e-14)
    assert_same(whole, ca.IntegratedGradients(tm).attribute(tx, 0.25, **kw), what="0.25")


def test_integrated_gradients_are_complete(nets):
    """With enough Gauss-Legendre points the attributions sum to F(x) - F(baseline)."""
    em, _, x, _, _ = nets
    _, delta = IntegratedGradients(em).attribute(x, target=TARGETS, n_steps=64,
                                                 return_convergence_delta=True)
    assert np.abs(delta.numpy()).max() < 1e-3


def _shared_noise(monkeypatch, ca):
    """Both NoiseTunnels add the same pre-drawn noise (their generators differ)."""
    import torch
    rng = np.random.default_rng(3)

    def make(framework):
        draws = []

        def add(input, stdev, n):
            if not draws:
                draws.append(rng.normal(size=(40,) + tuple(input.shape[1:])))
            noise = draws[0][:input.shape[0] * n] * stdev
            draws[0] = draws[0][input.shape[0] * n:]
            return input.repeat_interleave(n, dim=0) + framework.tensor(noise)
        return staticmethod(add)

    monkeypatch.setattr(NoiseTunnel, "_add_noise_to_input", make(ember))
    rng_state = rng.bit_generator.state
    ours = []
    yield ours
    rng.bit_generator.state = rng_state
    monkeypatch.setattr(ca.NoiseTunnel, "_add_noise_to_input", make(torch))


@pytest.mark.parametrize("nt_type", ["smoothgrad", "smoothgrad_sq", "vargrad"])
def test_noise_tunnel_matches_captum_on_the_same_noise(nets, monkeypatch, nt_type):
    em, tm, x, tx, ca = nets
    kw = {"nt_type": nt_type, "nt_samples": 5, "nt_samples_batch_size": 2, "stdevs": 0.3,
              "target": TARGETS}
    for ours_cls, theirs_cls, extra in ((Saliency, ca.Saliency, {}),
                                        (IntegratedGradients, ca.IntegratedGradients,
                                         {"n_steps": 3, "baselines": ember.zeros_like(x)})):
        noise = _shared_noise(monkeypatch, ca)
        next(noise)
        ours = NoiseTunnel(ours_cls(em)).attribute(x, **kw, **extra)
        next(noise, None)
        if "baselines" in extra:
            import torch
            extra = dict(extra, baselines=torch.zeros_like(tx))
        theirs = ca.NoiseTunnel(theirs_cls(tm)).attribute(tx, **kw, **extra)
        assert_same(ours, theirs, what=f"NoiseTunnel({ours_cls.__name__}) {nt_type}")


def test_noise_tunnel_deltas_match_captum_on_the_same_noise(nets, monkeypatch):
    em, tm, x, tx, ca = nets
    kw = {"nt_samples": 3, "nt_samples_batch_size": 2, "stdevs": 0.2, "target": TARGETS,
          "n_steps": 4, "return_convergence_delta": True}
    noise = _shared_noise(monkeypatch, ca)
    next(noise)
    ours, delta = NoiseTunnel(IntegratedGradients(em)).attribute(x, **kw)
    next(noise, None)
    theirs, their_delta = ca.NoiseTunnel(ca.IntegratedGradients(tm)).attribute(tx, **kw)
    assert_same(ours, theirs, what="NoiseTunnel(IntegratedGradients)")
    assert tuple(delta.shape) == (12,)
    assert_same(delta, their_delta, atol=1e-7, what="deltas")
    with pytest.raises(ValueError, match="Saliency has no convergence delta"):
        NoiseTunnel(Saliency(em)).attribute(x, target=0, return_convergence_delta=True)


def test_noise_tunnel_draws_baselines_from_a_set(nets):
    """With every reference input equal, drawing from the set is that baseline."""
    em, _, x, _, _ = nets
    refs = ember.ones(5, 2, 8, 8) * 0.5
    kw = {"nt_samples": 2, "stdevs": 0.1, "target": TARGETS, "n_steps": 3}
    ember.manual_seed(3)
    drawn = NoiseTunnel(IntegratedGradients(em)).attribute(
        x, baselines=refs.double(), draw_baseline_from_distrib=True, **kw)
    ember.manual_seed(3)
    fixed = NoiseTunnel(IntegratedGradients(em)).attribute(x, baselines=0.5, **kw)
    assert drawn.shape == x.shape and np.abs(drawn.numpy()).max() > 0
    np.testing.assert_allclose(drawn.numpy(), fixed.numpy(), rtol=1e-12, atol=1e-15)


def test_noise_tunnel_is_seeded_and_smooths(nets):
    em, _, x, _, _ = nets
    ember.manual_seed(5)
    a = NoiseTunnel(Saliency(em)).attribute(x, nt_samples=4, stdevs=0.2, target=1)
    ember.manual_seed(5)
    b = NoiseTunnel(Saliency(em)).attribute(x, nt_samples=4, stdevs=0.2, target=1)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    zero = NoiseTunnel(Saliency(em)).attribute(x, nt_samples=2, stdevs=0.0, target=1)
    np.testing.assert_allclose(zero.numpy(), Saliency(em).attribute(x, 1).numpy(), 1e-12)


def test_errors_name_the_method_and_the_shapes(nets):
    em, _, x, _, _ = nets
    with pytest.raises(TypeError, match="Saliency.attribute: inputs must be an ember Tensor"):
        Saliency(em).attribute(x.numpy(), target=0)
    with pytest.raises(ValueError, match=r"one value per example; got shape \(4, 5\)"):
        Saliency(em).attribute(x)
    with pytest.raises(IndexError, match=r"target \(7,\) is out of range.*\(N, 5\)"):
        InputXGradient(em).attribute(x, target=[7, 0, 0, 0])
    with pytest.raises(ValueError, match="3 targets for 4 examples"):
        Saliency(em).attribute(x, target=[0, 1, 2])
    with pytest.raises(ValueError, match="method must be one of"):
        IntegratedGradients(em).attribute(x, target=0, method="simpson")
    with pytest.raises(ValueError, match="needs n_steps > 1"):
        IntegratedGradients(em).attribute(x, target=0, method="riemann_left", n_steps=1)
    with pytest.raises(ValueError, match=r"baseline of shape \(3, 2, 8, 8\) does not broadcast"):
        IntegratedGradients(em).attribute(x, ember.zeros(3, 2, 8, 8), target=0)
    with pytest.raises(ValueError, match="NoiseTunnel.attribute: nt_type must be"):
        NoiseTunnel(Saliency(em)).attribute(x, nt_type="smooth", target=0)
    with pytest.raises(ValueError, match="stdevs must be a float or a tuple"):
        NoiseTunnel(Saliency(em)).attribute(x, stdevs=(0.1, 0.2), target=0)
    with pytest.raises(TypeError, match="NoiseTunnel: attribution_method"):
        NoiseTunnel(em)
    with pytest.raises(TypeError, match="Saliency: forward_func must be callable"):
        Saliency(3)


def test_tuple_targets_on_a_three_dimensional_output(nets):
    """captum's other target forms: a tuple indexes every example's output, a list of tuples
    one entry per example."""
    em, tm, x, tx, ca = nets

    def ember_f(a):
        return em(a).reshape(4, 5, 1) * ember.tensor([1.0, 2.0], dtype=ember.float64)

    def torch_f(a):
        import torch
        return tm(a).reshape(4, 5, 1) * torch.tensor([1.0, 2.0], dtype=torch.float64)

    for target in ((3, 1), [(0, 1), (4, 0), (2, 1), (1, 1)]):
        assert_same(Saliency(ember_f).attribute(x, target, abs=False),
                    ca.Saliency(torch_f).attribute(tx, target, abs=False), what=str(target))
