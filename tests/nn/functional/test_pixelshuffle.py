"""pixel_shuffle, pixel_unshuffle and channel_shuffle against PyTorch: values and gradients
on batched, unbatched and extra-batch-dim inputs, round trips, errors."""
import numpy as np
import pytest
from _parity import import_torch, random_inputs
from _table import Op

import ember
import ember.nn.functional as F

torch = import_torch()


def _f(name, *args):
    return lambda m, x: getattr(m.nn.functional, name)(x, *args)


TABLE = {
    "shuffle": Op(_f("pixel_shuffle", 2), shapes=((2, 8, 3, 5),)),
    "shuffle_3": Op(_f("pixel_shuffle", 3), shapes=((1, 9, 2, 2),)),
    "shuffle_unbatched": Op(_f("pixel_shuffle", 2), shapes=((4, 3, 2),)),
    "shuffle_5d": Op(_f("pixel_shuffle", 2), shapes=((2, 3, 8, 2, 3),)),
    "shuffle_1": Op(_f("pixel_shuffle", 1), shapes=((2, 3, 2, 2),)),
    "unshuffle": Op(_f("pixel_unshuffle", 2), shapes=((2, 3, 4, 6),)),
    "unshuffle_3": Op(_f("pixel_unshuffle", 3), shapes=((1, 2, 3, 6),)),
    "unshuffle_unbatched": Op(_f("pixel_unshuffle", 2), shapes=((3, 2, 4),)),
    "unshuffle_5d": Op(_f("pixel_unshuffle", 2), shapes=((2, 2, 1, 4, 2),)),
    "channel": Op(_f("channel_shuffle", 3), shapes=((2, 6, 4),)),
    "channel_4d": Op(_f("channel_shuffle", 2), shapes=((2, 8, 3, 3),)),
    "channel_5d": Op(_f("channel_shuffle", 4), shapes=((1, 8, 2, 2, 2),)),
    "channel_1": Op(_f("channel_shuffle", 1), shapes=((2, 3, 2),)),
}


@pytest.mark.parametrize("name", TABLE)
def test_parity(name):
    TABLE[name].parity()
    TABLE[name].parity(np.float32)


@pytest.mark.parametrize("name", ["shuffle", "unshuffle", "channel"])
def test_gradcheck(name):
    TABLE[name].gradcheck()


def test_unshuffle_inverts_shuffle():
    x, = random_inputs([(2, 12, 3, 4)])
    t = ember.tensor(x)
    assert np.array_equal(F.pixel_unshuffle(F.pixel_shuffle(t, 2), 2).numpy(), x)


@pytest.mark.parametrize("call,match", [
    (lambda: F.pixel_shuffle(ember.randn(2, 5), 2),
     r"pixel_shuffle: expected an input with at least 3 dimensions .* shape \(2, 5\)"),
    (lambda: F.pixel_shuffle(ember.randn(1, 5, 2, 2), 2),
     r"size 5, which is not divisible by upscale_factor \*\* 2 = 4"),
    (lambda: F.pixel_shuffle(ember.randn(1, 4, 2, 2), 0), "positive integer upscale_factor"),
    (lambda: F.pixel_unshuffle(ember.randn(1, 4, 3, 2), 2),
     r"pixel_unshuffle: the height .* is 3, which is not divisible"),
    (lambda: F.pixel_unshuffle(ember.randn(1, 4, 2, 3), 2), "the width"),
    (lambda: F.pixel_unshuffle(ember.randn(4, 3), 2), "at least 3 dimensions"),
    (lambda: F.pixel_unshuffle(ember.randn(1, 1, 2, 2), -1), "positive integer downscale"),
    (lambda: F.channel_shuffle(ember.randn(1, 5, 2, 2), 2),
     r"number of channels \(5, input shape .* divisible by groups=2"),
    (lambda: F.channel_shuffle(ember.randn(5, 2), 5), "more than 2 dimensions"),
    (lambda: F.channel_shuffle(ember.randn(1, 4, 2, 2), 0), "groups must be a positive"),
], ids=["rank", "channels", "factor", "height", "width", "unshuffle_rank", "unshuffle_factor",
        "groups_divide", "channel_rank", "groups"])
def test_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
