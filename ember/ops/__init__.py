"""Differentiable operations, one module per family; each file pairs Function classes with
the lowercase functions users call. Inside an op: ``x``/``y`` are input/output arrays,
``gy`` the upstream gradient, ``gx`` the returned gradient, ``xp`` numpy or cupy."""
from ember.ops.arithmetic import (add, allclose, bitwise_and, bitwise_or, div, eq, equal,
                                  floor_divide, ge, gt, isclose, isfinite, isinf, isnan, le,
                                  logical_and, logical_not, logical_or, logical_xor, lt, mul,
                                  ne, neg, pow, reciprocal, remainder, result_type, square, sub)
from ember.ops.creation import (arange, as_tensor, cast, clone, copy_from, empty, empty_like,
                                eye, from_numpy, full, full_like, linspace, ones, ones_like,
                                rand, rand_like, randint, randn, randn_like, randperm,
                                random_normal, random_uniform, tensor, to_device, zeros,
                                zeros_like)
from ember.ops.elementwise import (abs, ceil, clamp, clip, cos, cumsum, exp, floor, log, log1p,
                                   log2, log10, masked_fill, maximum, minimum, relu, round,
                                   rsqrt, sigmoid, sign, sin, sqrt, tanh, where)
from ember.ops.indexing import gather, getitem, index_select, scatter_add, setitem
from ember.ops.inplace import fill_, inplace
from ember.ops.linalg import bmm, einsum, matmul, mm
from ember.ops.products import addmm, baddbmm, cdist, kron, tensordot
from ember.ops.reduction import (all, amax, amin, any, argmax, argmin, log_softmax, logsumexp,
                                 max, mean, min, norm, prod, softmax, std, sum, var)
from ember.ops.searching import (bincount, bucketize, histc, multinomial, nonzero, searchsorted,
                                 unique)
from ember.ops.shape import (broadcast_to, cat, chunk, concat, concatenate, expand, expand_as,
                             flatten, flip, pad, permute, repeat, reshape, reshape_as, roll,
                             split, squeeze, stack, swapaxes, transpose, unflatten, unsqueeze,
                             view, view_as)
from ember.ops.scatter import (index_add, index_copy, index_fill, masked_scatter, scatter,
                               scatter_reduce)
from ember.ops.special import (addcdiv, addcmul, atan2, erf, erfinv, hypot, lerp, nan_to_num,
                               std_mean, var_mean)
from ember.ops.sorting import argsort, cummax, cummin, kthvalue, sort, topk
from ember.ops.structure import (cumprod, diag, diagonal, logcumsumexp, meshgrid, narrow,
                                 outer, repeat_interleave, take_along_dim, trace, tril, triu)


