"""Matrix products: matmul (batched, broadcasting, 1-D cases as in NumPy) and einsum."""
from __future__ import annotations

import string

from ember.autograd.function import Function
from ember.ops.arithmetic import promote


class Matmul(Function):
    def forward(self, a, b):
        self.save_for_backward(a if self.needs_input_grad[1] else None,
                               b if self.needs_input_grad[0] else None)
        self.ndims = (a.ndim, b.ndim)
        return a @ b

    def backward(self, gy):
        a, b = self.saved
        xp = self.xp
        na, nb = self.ndims
        if na == 1 and nb == 1:
            return (gy * b if b is not None else None), (gy * a if a is not None else None)
        # Lift 1-D operands to matrices as matmul does, so one formula serves every case;
        # gradients with extra batch dims are summed back to the input shape by the engine.
        if na == 1:
            gy = gy[..., None, :]
        if nb == 1:
            gy = gy[..., None]
        ga = gb = None
        if b is not None:
            b2 = b[:, None] if nb == 1 else b
            ga = gy @ xp.swapaxes(b2, -1, -2)
            if na == 1:
                ga = ga[..., 0, :]
        if a is not None:
            a2 = a[None, :] if na == 1 else a
            gb = xp.swapaxes(a2, -1, -2) @ gy
            if nb == 1:
                gb = gb[..., 0]
        return ga, gb


def matmul(a, b):
    """Matrix product with NumPy's rules: 1-D operands are vectors, leading dims broadcast."""
    a, b = promote(a, b)
    sa, sb = tuple(a.shape), tuple(b.shape)
    if not sa or not sb:
        raise ValueError(f"matmul: both operands need at least one dimension, got shapes "
                         f"{sa} and {sb}")
    k_b = sb[0] if len(sb) == 1 else sb[-2]
    if sa[-1] != k_b:
        raise ValueError(f"matmul: shapes {sa} and {sb} cannot be multiplied "
                         f"({sa[-1]} != {k_b})")
    return Matmul.apply(a, b)


mm = matmul
bmm = matmul


class Einsum(Function):
    def forward(self, *operands, inputs, output):
        self.inputs_subs, self.output, self.shapes = inputs, output, [o.shape for o in operands]
        self.save_for_backward(*operands)
        return self.xp.einsum(",".join(inputs) + "->" + output, *operands, optimize=True)

    def backward(self, gy):
        xp, ops = self.xp, self.saved
        sizes = {}  # each letter's broadcast size (an operand may have 1 where others have n)
        for subs, shape in zip(self.inputs_subs, self.shapes):
            for c, n in zip(subs, shape):
                sizes[c] = max(sizes.get(c, 1), n)
        grads = []
        for i, subs in enumerate(self.inputs_subs):
            if not self.needs_input_grad[i]:
                grads.append(None)
                continue
            others = [s for j, s in enumerate(self.inputs_subs) if j != i]
            present = set(self.output).union(*others)
            unique = "".join(dict.fromkeys(subs))  # "ii" (a diagonal) -> "i"
            target = "".join(c for c in unique if c in present)
            g = xp.einsum(",".join([self.output] + others) + "->" + target,
                          gy, *[o for j, o in enumerate(ops) if j != i], optimize=True)
            # letters summed away inside this operand alone get a size-1 axis; broadcasting
            # to the full sizes restores them (the engine sums broadcast 1-axes back)
            dims = iter(g.shape)
            g = g.reshape(tuple(next(dims) if c in present else 1 for c in unique))
            g = xp.broadcast_to(g, tuple(sizes[c] for c in unique))
            grads.append(g if unique == subs else _spread_diagonal(xp, g, unique, subs, sizes))
        return tuple(grads)


def _spread_diagonal(xp, g, unique, subs, sizes):
    """A gradient over ``unique`` letters spread onto an operand with repeated ones ("ii"):
    each repeat multiplies by an identity matrix, so only the diagonal gets gradient."""
    spare = iter(c for c in string.ascii_letters if c not in subs)
    seen, renamed, eyes = set(), "", []
    for c in subs:
        if c in seen:
            renamed += next(spare)
            eyes.append(c + renamed[-1])
        else:
            seen.add(c)
            renamed += c
    return xp.einsum(",".join([unique] + eyes) + "->" + renamed, g,
                     *[xp.eye(sizes[e[0]], dtype=g.dtype) for e in eyes])


def einsum(equation, *operands):
    """Einstein summation, e.g. ``einsum("bij,bjk->bik", a, b)``; ``...``, implicit output
    and repeated letters (``"ii->i"``, a diagonal) are supported."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    operands = promote(*operands)
    inputs, output = _parse_einsum(equation.replace(" ", ""), [o.ndim for o in operands])
    return Einsum.apply(*operands, inputs=inputs, output=output)


def _parse_einsum(equation, ndims):
    lhs, arrow, rhs = equation.partition("->")
    inputs = lhs.split(",")
    if len(inputs) != len(ndims):
        raise ValueError(f"einsum: equation {equation!r} names {len(inputs)} operands, "
                         f"got {len(ndims)}")
    used = set(equation) - set(".,->")
    spare = iter(c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in used)
    ell = ""
    if "..." in equation:
        longest = max(n - (len(s) - 3) for s, n in zip(inputs, ndims) if "..." in s)
        ell = "".join(next(spare) for _ in range(longest))
    expanded = []
    for s, n in zip(inputs, ndims):
        if "..." in s:
            k = n - (len(s) - 3)
            s = s.replace("...", ell[len(ell) - k:])
        if len(s) != n:
            raise ValueError(f"einsum: operand subscripts {s!r} do not match its {n} dims")
        expanded.append(s)
    if arrow:
        output = rhs.replace("...", ell)
    else:
        counts = {}
        for s in expanded:
            for c in s:
                counts[c] = counts.get(c, 0) + 1
        output = ell + "".join(sorted(c for c, k in counts.items() if k == 1 and c not in ell))
    return expanded, output


