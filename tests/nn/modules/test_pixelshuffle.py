"""PixelShuffle, PixelUnshuffle and ChannelShuffle against PyTorch: values, gradients,
reprs, errors naming the layer."""
import pytest
from _parity import check_module, import_torch, random_inputs

import ember
from ember import nn

torch = import_torch()

LAYERS = [("PixelShuffle", 2, (2, 8, 3, 3)), ("PixelUnshuffle", 2, (2, 3, 4, 6)),
          ("ChannelShuffle", 3, (2, 6, 2, 2))]


@pytest.mark.parametrize("name,arg,shape", LAYERS, ids=[n for n, _, _ in LAYERS])
def test_layer_parity_and_repr(name, arg, shape):
    em, tm = getattr(nn, name)(arg), getattr(torch.nn, name)(arg)
    check_module(em, tm, random_inputs([shape]))
    assert repr(em) == repr(tm) and list(em.state_dict()) == []


def test_errors_name_the_layer():
    with pytest.raises(ValueError, match=r"PixelShuffle\(upscale_factor=2\): pixel_shuffle: "):
        nn.PixelShuffle(2)(ember.randn(1, 3, 2, 2))
    with pytest.raises(ValueError, match=r"ChannelShuffle\(groups=2\): channel_shuffle: "):
        nn.ChannelShuffle(2)(ember.randn(1, 3, 2, 2))
