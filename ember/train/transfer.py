"""Transfer learning: start a model from weights trained elsewhere, keep some of them fixed,
start the new parts afresh.

    model = ember.models.get_model("resnet20", num_classes=10)
    report = load_pretrained(model, "runs/cifar/best.ckpt")   # the head's shape differs: skipped
    freeze(model, ["conv1", "layer1", "layer2"])               # no gradients, BN in eval
    optimizer = ember.optim.Adam(p for p in model.parameters() if p.requires_grad)

This is PyTorch's recipe spelled out (``load_state_dict(strict=False)`` on the entries that
fit, ``requires_grad_(False)``, the frozen BatchNorms in ``eval()``), as ``ember train
--pretrained FILE --freeze NAMES --reinit NAMES`` uses it. Weights come from any file
``ember.load`` reads (an ``ember train`` checkpoint, a state_dict saved by ember or by
``torch.save``, a ``.safetensors`` file) or the book "Deep Learning from Scratch"'s ``.pkl``
for its networks (:class:`ember.models.DLFSNet`).
"""
from __future__ import annotations

import dataclasses
import os

import ember
from ember.nn.modules.normalization import _BatchNorm


@dataclasses.dataclass
class LoadReport:
    """What :func:`load_pretrained` did: the names loaded, and those left as they were."""
    loaded: list
    skipped: dict  # name -> why (shape differs, not in the file)
    unused: list  # names in the file the model does not have

    def __str__(self):
        text = f"loaded {len(self.loaded)} tensors"
        if self.skipped:
            text += "; kept the model's own " + ", ".join(
                f"{k} ({why})" for k, why in self.skipped.items())
        if self.unused:
            text += f"; unused from the file: {', '.join(self.unused)}"
        return text


def read_weights(path):
    """The state_dict in ``path``: an ``ember train`` checkpoint's model, a state_dict file
    (ember's, ``torch.save``'s, ``.safetensors``), or the book's ``{"W1": ...}`` pickle (as
    NumPy arrays: only :class:`~ember.models.DLFSNet` takes it)."""
    path = os.fspath(path)
    if path.endswith(".pkl"):
        from ember.io import load_numpy_pickle
        return load_numpy_pickle(path)
    state = ember.load(path, map_location="cpu")
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]  # a training checkpoint: {"model": ..., "optimizer": ...}
    if not (isinstance(state, dict) and state
            and all(isinstance(v, ember.Tensor) for v in state.values())):
        raise ValueError(f"'{path}' holds no state_dict (a dict of tensors by name) nor a "
                         "checkpoint with one under 'model'")
    return state


def load_pretrained(model, weights):
    """Copy into ``model`` every tensor of ``weights`` (a state_dict or a file for
    :func:`read_weights`) whose name and shape match; the others keep the model's values
    (a new head of another size, say). Nothing changes when nothing fits. Returns a
    :class:`LoadReport`."""
    source = weights
    if not isinstance(weights, dict):
        weights = read_weights(weights)
    from ember.models import DLFSNet
    if isinstance(model, DLFSNet) and "W1" in weights:
        model.load_dlfs_params(weights)
        return LoadReport(loaded=list(model.state_dict()), skipped={}, unused=[])
    own = model.state_dict()
    fits, skipped = {}, {}
    for name, target in own.items():
        if name not in weights:
            skipped[name] = "not in the file"
        elif tuple(weights[name].shape) != tuple(target.shape):
            skipped[name] = (f"shape {tuple(target.shape)}, the file's "
                             f"{tuple(weights[name].shape)}")
        else:
            fits[name] = weights[name]
    if not fits:
        raise ValueError(f"no tensor of {_describe(source)} fits the model (names in the file "
                         f"such as {', '.join(list(weights)[:3])}; the model's such as "
                         f"{', '.join(list(own)[:3])})")
    model.load_state_dict(fits, strict=False)
    unused = [k for k in weights if k not in own]
    return LoadReport(loaded=list(fits), skipped=skipped, unused=unused)


def freeze(model, names):
    """Stop training the submodules ``names`` (dotted paths as in ``named_modules``, e.g.
    ``"features"`` or ``"layer1.0"``): their parameters get ``requires_grad=False`` and their
    batch norms stay in evaluation mode (running statistics used, never updated) even under
    ``model.train()``. Returns the frozen parameters' names."""
    frozen = []
    for module_name in names:
        module = _submodule(model, module_name)
        module.requires_grad_(False)
        for sub in module.modules():
            if isinstance(sub, _BatchNorm):
                sub.register_forward_pre_hook(_stay_in_eval)
        prefix = f"{module_name}." if module_name else ""
        frozen += [prefix + n for n, _ in module.named_parameters()]
    return frozen


def _stay_in_eval(module, args):
    # model.train() sets training on every module; a frozen BN must keep its statistics
    module.training = False


def reinit(model, names):
    """Draw the submodules ``names`` afresh (``reset_parameters()`` of each layer in them), as
    a new head is. Returns how many layers were reset."""
    count = 0
    for module_name in names:
        for sub in _submodule(model, module_name).modules():
            if hasattr(sub, "reset_parameters"):
                sub.reset_parameters()
                count += 1
    return count


def _submodule(model, name):
    try:
        return model.get_submodule(name)
    except AttributeError:
        children = [n for n, _ in model.named_children()]
        raise ValueError(f"the model has no submodule {name!r}; its top-level ones are "
                         f"{', '.join(children)}") from None


def _describe(source):
    return f"'{os.fspath(source)}'" if isinstance(source, (str, os.PathLike)) else "the weights"
