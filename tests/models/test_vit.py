"""ember.models.vit against the same Vision Transformer written in plain PyTorch here
(weights copied), in float64: outputs, input and parameter gradients."""
import numpy as np
import pytest
from _parity import assert_close, check_grad, import_torch

import ember
from ember import models
from ember.models.vit import VisionTransformer, vit_tiny

TOL = {"rtol": 1e-9, "atol": 1e-10}


def torch_vit(torch, image_size, patch_size, in_channels, num_classes, embed_dim, depth,
              num_heads, mlp_dim, dropout=0.0):
    nn = torch.nn

    class ViT(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv_proj = nn.Conv2d(in_channels, embed_dim, patch_size, stride=patch_size)
            tokens = (image_size // patch_size) ** 2 + 1
            self.class_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
            self.pos_embedding = nn.Parameter(torch.randn(1, tokens, embed_dim) * 0.02)
            self.dropout = nn.Dropout(dropout)
            layer = nn.TransformerEncoderLayer(embed_dim, num_heads, mlp_dim, dropout,
                                               activation="gelu", batch_first=True,
                                               norm_first=True)
            self.encoder = nn.TransformerEncoder(layer, depth, norm=nn.LayerNorm(embed_dim),
                                                 enable_nested_tensor=False)
            self.heads = nn.Linear(embed_dim, num_classes)

        def forward(self, x):
            x = self.conv_proj(x).flatten(2).transpose(1, 2)
            x = torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1)
            return self.heads(self.encoder(self.dropout(x + self.pos_embedding))[:, 0])

    return ViT()


@pytest.mark.parametrize("size, patch, channels", [(28, 7, 1), (12, 4, 3)])
def test_matches_pytorch(size, patch, channels):
    torch = import_torch()
    args = (size, patch, channels, 5, 16, 2, 4, 24)
    tm = torch_vit(torch, *args).double()
    em = VisionTransformer(*args).double()
    assert list(em.state_dict()) == list(tm.state_dict())
    em.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((3, channels, size, size))
    ex = ember.tensor(x, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    ey, ty = em(ex), tm(tx)
    assert_close(ey.detach().numpy(), ty.detach().numpy(), **TOL)
    g = np.random.default_rng(1).standard_normal((3, 5))
    (ey * ember.tensor(g)).sum().backward()
    (ty * torch.tensor(g)).sum().backward()
    assert_close(ex.grad.numpy(), tx.grad.numpy(), what="input", **TOL)
    t_params = dict(tm.named_parameters())
    assert [n for n, _ in em.named_parameters()] == list(t_params)
    for name, p in em.named_parameters():
        assert_close(p.grad.numpy(), t_params[name].grad.numpy(), what=name, **TOL)


def test_finite_differences():
    ember.manual_seed(0)
    m = VisionTransformer(8, 4, 1, 3, embed_dim=8, depth=1, num_heads=2, mlp_dim=8).double()
    check_grad(m, shapes=((2, 1, 8, 8),))


def test_vit_tiny_registered_and_sized():
    m = models.get_model("vit_tiny", num_classes=10, in_channels=1, input_size=28)
    assert isinstance(m, VisionTransformer)
    assert sum(p.numel() for p in m.parameters()) == 139_018
    assert tuple(m.pos_embedding.shape) == (1, 17, 64)
    keys = list(m.state_dict())
    assert keys[:4] == ["class_token", "pos_embedding", "conv_proj.weight", "conv_proj.bias"]
    assert "encoder.layers.3.self_attn.in_proj_weight" in keys and keys[-4:] == [
        "encoder.norm.weight", "encoder.norm.bias", "heads.weight", "heads.bias"]
    with ember.no_grad():
        y = m.eval()(ember.randn(2, 1, 28, 28))
    assert tuple(y.shape) == (2, 10)


def test_errors():
    with pytest.raises(ValueError, match="VisionTransformer: patch_size 5 must divide "
                                         "image_size 28"):
        vit_tiny(patch_size=5)
    with pytest.raises(ValueError, match="num_heads 3 must divide embed_dim 64"):
        VisionTransformer(num_heads=3)
    m = vit_tiny()
    with pytest.raises(ValueError, match=r"VisionTransformer: expected input of shape "
                                         r"\(N, 1, 28, 28\), got \(2, 1, 32, 32\)"):
        m(ember.randn(2, 1, 32, 32))
