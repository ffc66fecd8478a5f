"""Parameters with gradients, shared by the tests of ember.nn.utils."""
import numpy as np

SHAPES = [(4, 3), (3,), (2, 2, 2)]


def with_grads(m, dtype, scale=1.0):
    """Tensors of SHAPES whose .grad are set from a fixed rng (``m``: ember or torch)."""
    rng = np.random.default_rng(0)
    out = []
    for shape in SHAPES:
        p = m.tensor(rng.standard_normal(shape).astype(dtype), requires_grad=True)
        p.grad = m.tensor(scale * rng.standard_normal(shape).astype(dtype))
        out.append(p)
    return out
