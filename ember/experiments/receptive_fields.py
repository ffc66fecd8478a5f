"""``receptive-field``: which input pixels one unit sees, layer by layer, drawn on an image.

A VGG-style stack (``ember.models.vgg.make_layers``: 3x3 convolutions with padding 1 and
ReLU, 2x2 max pools; the channel plan is ``widths``, "M" a pool) on one Fashion-MNIST
image. For the centre unit of each layer's output (or, with ``pixel=(row, col)``, the unit
whose field is centred nearest that input pixel), ``ember.explain.receptive_field``
measures the field by backpropagation twice: the full theoretical field (drawn as a
rectangle; it grows by 2 per 3x3 convolution and doubles its growth after every pool:
3, 5, 6, 10, 14, 16, 24 ...) and, on the untrained network and this very image, the pixels
that actually move the unit (the effective receptive field, drawn as a heat map: it is
centre-weighted, and max pooling and dead ReLUs thin it). The rectangle is also checked
against ``ember.summary``'s analytic field.

Writes ``fields.png`` (one panel per layer) and ``fields.csv``.
"""
from __future__ import annotations

import numpy as np

import ember
from ember.experiments import common
from ember.explain import receptive_field
from ember.models.vgg import make_layers

__all__ = ["PRESETS", "run"]

PRESETS = {
    "quick": {"widths": (8, 8, "M", 16, 16, "M", 32), "image_index": 0, "pixel": None,
              "seed": 0},
    "default": {"widths": (16, 16, "M", 32, 32, "M", 64, 64), "image_index": 0, "pixel": None,
                "seed": 0},
}


def unit_over(row, pixel, out_hw):
    """The output unit ``(i, j)`` of a layer (``row``: its ``ember.summary`` line) whose
    field is centred nearest the input ``pixel``, within the layer's ``out_hw``."""
    return tuple(int(min(max(round((p - s - (r - 1) / 2) / j), 0), n - 1))
                 for p, s, r, j, n in zip(pixel, row.start, row.rf, row.jump, out_hw))


def run(out_dir, widths, image_index, pixel, seed, preset=None):
    """Measure, for each layer, the field of its centre unit (``pixel=None``) or of the unit
    centred nearest the input ``pixel = (row, col)``. Summary: ``layers`` (the measured
    layers' names in the stack), ``position`` ({layer: (i, j) of the unit}), ``size``
    ({layer: (h, w) of the theoretical field}), ``box`` ({layer: (rows, cols)}),
    ``analytic`` ({layer: ember.summary's (h, w), clipped to the image}), ``effective``
    ({layer: pixels with a non-zero gradient on the image})."""
    plt = common.pyplot()
    ember.manual_seed(seed)
    model = make_layers(list(widths), in_channels=1).eval()
    x, _, _, _ = common.image_arrays(image_index + 1, 0, flat=False, seed=seed)
    image = x[image_index:image_index + 1]
    size = tuple(image.shape[1:])
    info = ember.summary(model, size)
    # the layers whose output is a new field: each ReLU and each pool
    names = [n for n, mod in model.named_children()
             if isinstance(mod, (ember.nn.ReLU, ember.nn.MaxPool2d))]
    cols = min(4, len(names))
    rows_n = -(-len(names) // cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(2.6 * cols, 2.7 * rows_n), squeeze=False)
    summary = {"layers": names, "position": {}, "size": {}, "box": {}, "analytic": {},
               "effective": {}}
    rows = []
    for ax, name in zip(axes.flat, names):
        row = [r for r in info.layers if r.name == name][-1]
        unit = None if pixel is None else unit_over(row, pixel, row.output_shape[-2:])
        theory = receptive_field(model, size, name, position=unit)
        real = receptive_field(model, size, name, position=unit, theoretical=False,
                               input=ember.from_numpy(image))
        (r0, r1), (c0, c1) = row.box(*theory.position, input_hw=size[1:])
        summary["size"][name] = theory.size
        summary["position"][name] = theory.position
        summary["box"][name] = (theory.rows, theory.cols)
        summary["analytic"][name] = (r1 - r0 + 1, c1 - c0 + 1)
        summary["effective"][name] = int((real.grad > 0).sum())
        rows.append([name, type(model[int(name)]).__name__, *theory.position,
                     *theory.rows, *theory.cols, *theory.size, *row.rf,
                     summary["effective"][name]])
        ax.imshow(image[0, 0], cmap="gray")
        heat = np.ma.masked_equal(real.grad, 0)
        ax.imshow(heat / heat.max(), cmap="autumn", alpha=0.55)
        ax.add_patch(plt.Rectangle((theory.cols[0] - 0.5, theory.rows[0] - 0.5),
                                   theory.size[1], theory.size[0], fill=False,
                                   color="cyan", lw=1.5))
        ax.set_title(f"layer {name} ({type(model[int(name)]).__name__}): "
                     f"{theory.size[0]}x{theory.size[1]}", fontsize=8)
        ax.axis("off")
    for ax in axes.flat[len(names):]:
        ax.axis("off")
    which = "centre unit" if pixel is None else f"the unit over pixel {tuple(pixel)}"
    fig.suptitle(f"{which} per layer: theoretical field (box), effective field on this "
                 "image (heat)", fontsize=9)
    fig.tight_layout()
    figures = [common.save_figure(fig, out_dir, "fields.png")]
    csvs = [common.write_csv(out_dir, "fields.csv",
                             ["layer", "type", "unit_i", "unit_j", "row0", "row1", "col0",
                              "col1", "height", "width", "analytic_rf_h", "analytic_rf_w",
                              "effective_pixels"], rows)]
    table = "\n".join([(f"{'layer':<6} {'type':<10} {'field':>7} {'analytic':>9} "
                       f"{'effective px':>12}")] + [
        f"{r[0]:<6} {r[1]:<10} {r[8]:>3}x{r[9]:<3} {r[10]:>4}x{r[11]:<4} {r[12]:>12}"
        for r in rows])
    return figures, csvs, summary, table
