"""ONNX for the layer families (``ember/nn/functional``): linear, convolution, pooling,
normalisation, activations, embedding, the recurrence of RNN / LSTM / GRU layers and
attention. Same converter contract as ``ember.onnx.ops``."""
from __future__ import annotations

import math

import numpy as np

from ember.backend import to_numpy
from ember.onnx.graph import ExportError, tensor_type
from ember.onnx.ops import _scalar, converts


@converts("Linear")
def _linear(g, xs, config, ys):
    x, w = xs[0], xs[1]
    b = xs[2] if len(xs) > 2 else None
    xn, wn = g.name(x), g.name(w)
    if x.ndim == 2:
        out = g.node("Gemm", [xn, wn] + ([g.name(b)] if b is not None else []), transB=1)
    else:
        out = g.node("MatMul", [xn, g.node("Transpose", [wn], perm=[1, 0])])
        if b is not None:
            out = g.node("Add", [out, g.name(b)])
    if not g.traced(w) and (b is None or not g.traced(b)):
        g.producers[out] = ("linear", (xn, w, b))  # a recurrence may fold it (see below)
    return out


def _pairs(widths):
    return [lo for lo, _ in widths] + [hi for _, hi in widths]


@converts("ConvNd")
def _conv(g, xs, config, ys):
    x, w = xs[0], xs[1]
    b = xs[2] if len(xs) > 2 else None
    return g.node("Conv", [g.name(x), g.name(w)] + ([g.name(b)] if b is not None else []),
                  kernel_shape=list(w.shape[2:]), strides=list(config["stride"]),
                  pads=_pairs(config["padding"]), dilations=list(config["dilation"]),
                  group=config["groups"])


@converts("ConvTransposeNd")
def _conv_transpose(g, xs, config, ys):
    x, w = xs[0], xs[1]
    b = xs[2] if len(xs) > 2 else None
    k, stride, dil = w.shape[2:], config["stride"], config["dilation"]
    pads = config["padding"]
    extra = [o - ((n - 1) * s - lo - hi + dl * (kk - 1) + 1) for o, n, s, (lo, hi), dl, kk
             in zip(config["out_size"], x.shape[2:], stride, pads, dil, k)]
    return g.node("ConvTranspose",
                  [g.name(x), g.name(w)] + ([g.name(b)] if b is not None else []),
                  kernel_shape=list(k), strides=list(stride), pads=_pairs(pads),
                  dilations=list(dil), group=config["groups"], output_padding=extra)


@converts("MaxPoolNd")
def _max_pool(g, xs, config, ys):
    if config["return_indices"]:
        raise ExportError("max pooling with return_indices=True cannot be exported to ONNX")
    return g.node("MaxPool", [g.name(xs[0])], kernel_shape=list(config["kernel"]),
                  strides=list(config["stride"]), pads=_pairs(config["pads"]),
                  dilations=list(config["dilation"]))


@converts("AvgPoolNd")
def _avg_pool(g, xs, config, ys):
    kernel = config["kernel"]
    out = g.node("AveragePool", [g.name(xs[0])], kernel_shape=list(kernel),
                 strides=list(config["stride"]), pads=_pairs(config["pads"]),
                 count_include_pad=1)
    # AveragePool divides by the window's size; ember's divisor may differ per position
    divisor = config["divisor"]
    factor = math.prod(kernel) / np.asarray(divisor, np.float64)
    if np.all(factor == 1):
        return out
    return g.node("Mul", [out, g.const(factor.astype(xs[0].dtype))])


@converts("AdaptiveMaxPoolNd")
def _adaptive_max(g, xs, config, ys):
    if config["return_indices"] or any(o != 1 for o in config["out"]):
        raise ExportError("adaptive max pooling cannot be exported to ONNX except to size 1 "
                          "without indices (GlobalMaxPool)")
    return g.node("GlobalMaxPool", [g.name(xs[0])])


def _normalise(g, xn, axes, eps, like):
    """``(x - mean) / sqrt(var + eps)`` over ``axes`` (biased variance), as ember's rows."""
    centred = g.node("Sub", [xn, g.reduce("ReduceMean", xn, axes, 1)])
    var = g.reduce("ReduceMean", g.node("Mul", [centred, centred]), axes, 1)
    invstd = g.node("Reciprocal", [g.node("Sqrt", [g.node("Add", [var, _scalar(g, eps, like)])])])
    return g.node("Mul", [centred, invstd])


def _channel_affine(g, y, w, b, ndim):
    """``y * w + b`` with (C,) parameters broadcast along axis 1 of an ``ndim``-d tensor."""
    for p, op in ((w, "Mul"), (b, "Add")):
        if p is not None:
            pn = g.name(p)
            if ndim > 2:
                pn = g.reshape(pn, p.shape, (p.shape[0],) + (1,) * (ndim - 2))
            y = g.node(op, [y, pn])
    return y


@converts("BatchNorm")
def _batch_norm(g, xs, config, ys):
    x, w, b = xs
    if config["training"]:  # batch statistics (instance norm): normalise over N and *
        axes = [0] + list(range(2, x.ndim))
        y = _normalise(g, g.name(x), axes, float(config["eps"]), x)
        return _channel_affine(g, y, w, b, x.ndim)
    c = x.shape[1]
    mean, var = config["running_mean"], config["running_var"]
    ones = np.ones(c, x.dtype)
    return g.node("BatchNormalization", [
        g.name(x), g.name(w) if w is not None else g.const(ones),
        g.name(b) if b is not None else g.const(np.zeros(c, x.dtype)), g.name(mean),
        g.name(var)], epsilon=float(config["eps"]))


@converts("RowNorm")
def _row_norm(g, xs, config, ys):
    x, w, b = xs
    rows, affine = tuple(config["rows"]), tuple(config["affine_shape"])
    axis, size = x.ndim, 1
    while axis > 0 and size < rows[1]:
        axis -= 1
        size *= x.shape[axis]
    if rows != affine or size != rows[1]:
        return _group_norm(g, x, w, b, rows, affine, float(config["eps"]))
    shape = x.shape[axis:]
    scale = g.name(w) if w is not None else g.const(np.ones(rows[1], x.dtype))
    bias = g.name(b) if b is not None else ""
    if w is not None and w.shape != shape:
        scale = g.reshape(scale, w.shape, shape)
    if b is not None and b.shape != shape:
        bias = g.reshape(bias, b.shape, shape)
    return g.node("LayerNormalization", [g.name(x), scale] + ([bias] if bias else []),
                  axis=axis - x.ndim, epsilon=float(config["eps"]))


def _group_norm(g, x, w, b, rows, affine, eps):
    """Group norm: x as (N, G, K), normalised over K, back to (N, C, S), the per-channel
    affine, back to x's shape (the dims at the other sizes from the run's hints)."""
    other = g.hint[1][0]
    groups = rows[0] // x.shape[0]
    k_other = int(np.prod(other)) // (other[0] * groups)
    xg = g.reshape(g.name(x), x.shape, (x.shape[0], groups, rows[1]),
                   (other, (other[0], groups, k_other)))
    y = _normalise(g, xg, [2], eps, x)
    c_s_other = (other[0], affine[1], int(np.prod(other[2:])))
    y = g.reshape(y, (x.shape[0], groups, rows[1]), affine,
                  ((other[0], groups, k_other), c_s_other))
    y = _channel_affine(g, y, w, b, 3)
    return g.reshape(y, affine, x.shape, (c_s_other, other))


@converts("LocalResponseNorm")
def _lrn(g, xs, config, ys):
    if config["size"] % 2 == 0:
        raise ExportError(f"local_response_norm with an even size ({config['size']}) cannot "
                          "be exported to ONNX (its LRN window is centred differently)")
    return g.node("LRN", [g.name(xs[0])], size=config["size"], alpha=float(config["alpha"]),
                  beta=float(config["beta"]), bias=float(config["k"]))


@converts("Embedding")
def _embedding(g, xs, config, ys):
    index = g.name(config["indices"])
    if config["indices"].dtype != np.int64:
        index = g.node("Cast", [index], to=tensor_type(np.int64))
    return g.node("Gather", [g.name(xs[0]), index], axis=0)


# --- activations ----------------------------------------------------------------------------

@converts("Hardtanh")
def _hardtanh(g, xs, config, ys):
    x = xs[0]
    return g.node("Clip", [g.name(x), _scalar(g, config["min_val"], x),
                           _scalar(g, config["max_val"], x)])


@converts("LeakyRelu")
def _leaky(g, xs, config, ys):
    return g.node("LeakyRelu", [g.name(xs[0])], alpha=float(config["negative_slope"]))


@converts("Prelu")
def _prelu(g, xs, config, ys):
    x, w = xs
    wn = g.name(w)
    if x.ndim > 2 and w.size > 1:  # (C,) broadcast along dim 1
        wn = g.reshape(wn, w.shape, (w.size,) + (1,) * (x.ndim - 2))
    return g.node("PRelu", [g.name(x), wn])


@converts("Elu")
def _elu(g, xs, config, ys):
    x, alpha = xs[0], float(config["alpha"])
    scale, input_scale = config["scale"], config.get("input_scale", 1.0)
    if input_scale == 1.0:
        out = g.node("Elu", [g.name(x)], alpha=alpha)
        return out if scale == 1 else g.node("Mul", [out, _scalar(g, scale, x)])
    if scale == 1 and math.isclose(input_scale, 1 / alpha):
        return g.node("Celu", [g.name(x)], alpha=alpha)
    raise ExportError(f"elu with scale={scale}, input_scale={input_scale} cannot be exported")


@converts("Gelu")
def _gelu(g, xs, config, ys):
    x = xs[0]
    xn = g.name(x)
    if g.opset >= 20:
        return g.node("Gelu", [xn], approximate=config["approximate"])
    half = g.node("Mul", [xn, _scalar(g, 0.5, x)])
    if config["approximate"] == "tanh":
        cube = g.node("Mul", [g.node("Mul", [xn, xn]), xn])
        inner = g.node("Add", [xn, g.node("Mul", [cube, _scalar(g, 0.044715, x)])])
        t = g.node("Tanh", [g.node("Mul", [inner, _scalar(g, math.sqrt(2 / math.pi), x)])])
    else:
        t = g.node("Erf", [g.node("Mul", [xn, _scalar(g, 1 / math.sqrt(2), x)])])
    return g.node("Mul", [half, g.node("Add", [t, _scalar(g, 1.0, x)])])


@converts("Silu")
def _silu(g, xs, config, ys):
    xn = g.name(xs[0])
    return g.node("Mul", [xn, g.node("Sigmoid", [xn])])


@converts("Softplus")
def _softplus(g, xs, config, ys):
    x, beta = xs[0], float(config["beta"])
    xn = g.name(x)
    if beta == 1:
        soft = g.node("Softplus", [xn])
    else:
        soft = g.node("Div", [g.node("Softplus", [g.node("Mul", [xn, _scalar(g, beta, x)])]),
                              _scalar(g, beta, x)])
    above = g.node("Greater", [g.node("Mul", [xn, _scalar(g, beta, x)]),
                               _scalar(g, config["threshold"], x)])
    return g.node("Where", [above, xn, soft])


@converts("Mish")
def _mish(g, xs, config, ys):
    xn = g.name(xs[0])
    return g.node("Mul", [xn, g.node("Tanh", [g.node("Softplus", [xn])])])


@converts("Hardswish")
def _hardswish(g, xs, config, ys):
    return g.node("HardSwish", [g.name(xs[0])])


@converts("Hardsigmoid")
def _hardsigmoid(g, xs, config, ys):
    return g.node("HardSigmoid", [g.name(xs[0])], alpha=1 / 6, beta=0.5)


@converts("LogSigmoid")
def _logsigmoid(g, xs, config, ys):
    return g.node("Neg", [g.node("Softplus", [g.node("Neg", [g.name(xs[0])])])])


# --- recurrence -----------------------------------------------------------------------------

# PyTorch's gate blocks -> ONNX's: LSTM ifgo -> iofc, GRU rzn -> zrh
_ORDER = {"LSTM": [0, 3, 1, 2], "GRU": [1, 0, 2], "RNN_TANH": [0], "RNN_RELU": [0]}


def _gates(a, mode):
    """Rows of a (K*H, ...) weight or (K*H,) bias in ONNX's gate order."""
    blocks = np.split(to_numpy(a), len(_ORDER[mode]), axis=0)
    return np.concatenate([blocks[i] for i in _ORDER[mode]], axis=0)


@converts("Recurrence")
def _recurrence(g, xs, config, ys):
    """One ONNX LSTM / GRU / RNN node per layer and direction. The input projection
    ``x W_ih^T + b_ih`` (a Linear just before) is folded into the node's W and B when its
    weights are constants; otherwise W is the gate permutation itself."""
    gx, h0, c0, w_hh, b_hh, w_hr = xs
    mode = config["mode"]
    if config.get("batch_sizes") is not None:
        raise ExportError(f"{mode} over a PackedSequence cannot be exported to ONNX; "
                          "export on padded sequences")
    if w_hr is not None:
        raise ExportError("LSTM with proj_size > 0 cannot be exported to ONNX")
    for what, a in (("w_hh", w_hh), ("b_hh", b_hh)):
        if g.traced(a):
            raise ExportError(f"{mode} with a computed recurrent weight ({what}) cannot be "
                              "exported to ONNX")
    K = len(_ORDER[mode])
    hidden = w_hh.shape[1]
    dtype = w_hh.dtype
    folded = g.producers.get(g.name(gx))
    if folded is not None and folded[0] == "linear":
        x_name, w_ih, b_ih = folded[1]
    else:  # W maps gx to itself, in ONNX's gate order
        x_name, w_ih, b_ih = g.name(gx), np.eye(K * hidden, dtype=dtype), None
    w = _gates(w_ih, mode)[None]
    r = _gates(w_hh, mode)[None]
    wb = np.zeros(K * hidden, dtype) if b_ih is None else _gates(b_ih, mode)
    rb = np.zeros(K * hidden, dtype) if b_hh is None else _gates(b_hh, mode)
    inputs = [x_name, g.const(w, hint="W"), g.const(r, hint="R"),
              g.const(np.concatenate([wb, rb])[None], hint="B"), ""]
    for state in (h0, c0) if mode == "LSTM" else (h0,):
        if state is None or (not g.traced(state) and not to_numpy(state).any()):
            inputs.append("")  # zeros: ONNX's default
        else:
            inputs.append(g.node("Unsqueeze", [g.name(state), g.ints([0])]))
    while inputs[-1] == "":
        inputs.pop()
    op = {"LSTM": "LSTM", "GRU": "GRU"}.get(mode, "RNN")
    attrs = {"hidden_size": hidden, "direction": "reverse" if config["reverse"] else "forward"}
    if op == "GRU":
        attrs["linear_before_reset"] = 1
    if op == "RNN":
        attrs["activations"] = ["Tanh" if mode == "RNN_TANH" else "Relu"]
    outs = g.node(op, inputs, outputs=3 if op == "LSTM" else 2, **attrs)
    y = g.node("Squeeze", [outs[0], g.ints([1])])  # (T, 1, B, H) -> (T, B, H)
    return [y] + [g.node("Squeeze", [o, g.ints([0])]) for o in outs[1:]]


# --- attention ------------------------------------------------------------------------------

@converts("Attention")
def _attention(g, xs, config, ys):
    """``softmax(q k^T * scale + mask) v``, decomposed: MatMul, Mul, Where / Add, Softmax
    (with a mask, NaN rows of fully masked queries set to 0, as ember), MatMul."""
    q, k, v, mask, keep = xs
    if keep is not None:
        raise ExportError("scaled_dot_product_attention with dropout_p > 0 cannot be exported "
                          "to ONNX; pass dropout_p=0.0 in evaluation")
    scores = g.node("MatMul", [g.name(q), g.transpose_last(g.name(k), k.ndim)])
    scores = g.node("Mul", [scores, _scalar(g, config.get("scale", 1.0), q)])
    if mask is not None and mask.dtype == np.bool_:
        scores = g.node("Where", [g.name(mask), scores, _scalar(g, -np.inf, q)])
    elif mask is not None:
        m = g.name(mask)
        if mask.dtype != q.dtype:
            m = g.node("Cast", [m], to=tensor_type(q.dtype))
        scores = g.node("Add", [scores, m])
    weights = g.node("Softmax", [scores], axis=-1)
    if mask is not None:  # a row that may attend to nothing gives zeros, not NaN (as ember)
        weights = g.node("Where", [g.node("IsNaN", [weights]), _scalar(g, 0.0, q), weights])
    return g.node("MatMul", [weights, g.name(v)])




@converts("AxisMatrices")
def _axis_matrices(g, xs, config, ys):
    """Adaptive average pooling with overlapping windows (and resampling): the trailing
    axes multiplied by (out, in) matrices, as MatMuls on the last two axes."""
    x, mats = xs[0], [np.asarray(m, xs[0].dtype) for m in config["mats"]]
    if len(mats) > 2:
        raise ExportError("adaptive pooling over 3 spatial dims with overlapping windows "
                          "cannot be exported to ONNX")
    out = g.name(x)
    for axis, m in zip(range(x.ndim - len(mats), x.ndim), mats):
        if axis == x.ndim - 1:
            out = g.node("MatMul", [out, g.const(np.ascontiguousarray(m.T))])
        else:
            out = g.node("MatMul", [g.const(m), out])
    return out


@converts("Resample")
def _resample(g, xs, config, ys):
    """Interpolation (nearest, linear, bicubic): along each spatial axis, the sum over taps
    of the input gathered at the tap's indices times its weights, as ember computes it."""
    x = xs[0]
    out = g.name(x)
    for a, taps in enumerate(config["taps"]):
        axis = 2 + a
        total = None
        for idx, w in taps:
            part = g.node("Gather", [out, g.const(np.asarray(idx, np.int64))], axis=axis)
            if w is not None:
                shape = (-1,) + (1,) * (x.ndim - 1 - axis)
                part = g.node("Mul", [part, g.const(np.asarray(w, x.dtype).reshape(shape))])
            total = part if total is None else g.node("Add", [total, part])
        out = total
    return out
