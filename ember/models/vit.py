"""A small Vision Transformer (Dosovitskiy et al., 2020) for small images such as
Fashion-MNIST's 1x28x28.

The image is cut into ``patch_size`` x ``patch_size`` patches, each projected to
``embed_dim`` by one strided convolution (``conv_proj``); a learned class token is put in
front, learned position embeddings are added, and a stack of pre-norm Transformer encoder
layers (``nn.TransformerEncoder`` with ``norm_first=True``, GELU, a final LayerNorm) mixes
the tokens; a linear head (``heads``) classifies the class token's output. Parameter names
follow torchvision's ``VisionTransformer`` where they have a counterpart (``conv_proj``,
``class_token``, ``heads``); the encoder is PyTorch's ``nn.TransformerEncoder``, so its
keys are ``encoder.layers.N.self_attn.in_proj_weight``, ... and ``encoder.norm``.
"""
from __future__ import annotations

import ember
from ember import nn

__all__ = ["VisionTransformer", "vit_tiny"]


class VisionTransformer(nn.Module):
    """A Vision Transformer classifier.

    Args:
        image_size: the side of the square input images.
        patch_size: the side of a patch; must divide ``image_size``.
        in_channels, num_classes: input channels and outputs.
        embed_dim: the token width; ``num_heads`` must divide it.
        depth: encoder layers.
        num_heads: attention heads per layer.
        mlp_dim: the feed-forward width of each layer.
        dropout: dropout after the embeddings and inside the encoder layers.

    Shape: ``(N, in_channels, image_size, image_size) -> (N, num_classes)``.
    """

    def __init__(self, image_size=28, patch_size=7, in_channels=1, num_classes=10,
                 embed_dim=64, depth=4, num_heads=4, mlp_dim=128, dropout=0.0):
        super().__init__()
        if image_size % patch_size:
            raise ValueError(f"VisionTransformer: patch_size {patch_size} must divide "
                             f"image_size {image_size}")
        if embed_dim % num_heads:
            raise ValueError(f"VisionTransformer: num_heads {num_heads} must divide "
                             f"embed_dim {embed_dim}")
        self.image_size, self.patch_size, self.in_channels = image_size, patch_size, in_channels
        self.embed_dim = embed_dim
        self.conv_proj = nn.Conv2d(in_channels, embed_dim, patch_size, stride=patch_size)
        tokens = (image_size // patch_size) ** 2 + 1
        self.class_token = nn.Parameter(ember.zeros(1, 1, embed_dim))
        self.pos_embedding = nn.Parameter(ember.empty(1, tokens, embed_dim).normal_(std=0.02))
        self.dropout = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(embed_dim, num_heads, mlp_dim, dropout,
                                           activation="gelu", batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth, norm=nn.LayerNorm(embed_dim),
                                             enable_nested_tensor=False)
        self.heads = nn.Linear(embed_dim, num_classes)

    def forward(self, x):
        if x.dim() != 4 or tuple(x.shape[1:]) != (self.in_channels, self.image_size,
                                                  self.image_size):
            raise ValueError(f"VisionTransformer: expected input of shape (N, "
                             f"{self.in_channels}, {self.image_size}, {self.image_size}), got "
                             f"{tuple(x.shape)}")
        x = self.conv_proj(x).flatten(2).transpose(1, 2)  # (N, patches, embed_dim)
        cls = self.class_token.expand(x.shape[0], -1, -1)
        x = self.dropout(ember.cat([cls, x], dim=1) + self.pos_embedding)
        return self.heads(self.encoder(x)[:, 0])


def vit_tiny(num_classes=10, in_channels=1, input_size=28, patch_size=7, dropout=0.0):
    """A tiny ViT for 28x28 images: 7x7 patches (16 tokens + the class token), width 64,
    4 layers of 4 heads, feed-forward 128 (~139k parameters at 10 classes)."""
    return VisionTransformer(input_size, patch_size, in_channels, num_classes, embed_dim=64,
                             depth=4, num_heads=4, mlp_dim=128, dropout=dropout)
