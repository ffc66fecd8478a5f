"""What ``ember.models.from_checkpoint(path)`` does (it lives in the registry,
``ember/models/__init__.py``, and passes the registry in, so this module imports no
``ember.models``): the model of a checkpoint written by ``ember train``
(classifiers and autoencoders alike), rebuilt from the builder name and arguments stored in
its config (``model``, ``model_kwargs``), its weights loaded, in eval mode. Only the model:
the run's preprocessing (normalisation statistics, class names, image size) is in the
checkpoint's ``config["preprocessing"]`` (``ember.load(path)["config"]``)."""
from __future__ import annotations

import os

import ember

__all__ = ["rebuild"]


def _describe(state):
    if isinstance(state, dict) and state.get("format") == "ember-training-checkpoint":
        return "a training checkpoint from ember.io.save_checkpoint (e.g. `ember charlm`)"
    if isinstance(state, dict) and state and all(isinstance(v, ember.Tensor)
                                                 for v in state.values()):
        return "a bare state_dict (model weights only)"
    if isinstance(state, dict) and isinstance(state.get("config"), dict):
        if state["config"].get("task") == "seq2seq":
            return ("an `ember seq2seq` checkpoint (its model is outside the registry; "
                    "`ember evaluate` reads it)")
        return "a checkpoint whose config names no registered model"
    return f"a {type(state).__name__} without the run's config"


def rebuild(path, get_model, names, map_location="cpu"):
    """The model of the ``ember train`` checkpoint at ``path`` (``last.ckpt`` or
    ``best.ckpt``), rebuilt with its stored builder arguments, its weights loaded, moved to
    ``map_location`` and in eval mode; ``get_model(name, **kwargs)`` builds, ``names`` are
    the registered model names.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not a checkpoint written by ``ember train`` (says what it is),
            or its weights do not fit the rebuilt model.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"from_checkpoint: no checkpoint file at '{path}'")
    state = ember.load(path)
    cfg = state.get("config") if isinstance(state, dict) else None
    if (not isinstance(cfg, dict) or "model" not in state or "model" not in cfg
            or cfg["model"] not in names):
        raise ValueError(f"from_checkpoint: '{path}' is {_describe(state)}, not a checkpoint "
                         "written by `ember train`; load weights-only files with "
                         "model.load_state_dict(ember.load(path))")
    model = get_model(cfg["model"], **(cfg.get("model_kwargs") or {}))
    try:
        model.load_state_dict(state["model"])
    except (KeyError, RuntimeError, ValueError) as e:
        raise ValueError(f"from_checkpoint: the weights in '{path}' do not fit "
                         f"{cfg['model']}({cfg.get('model_kwargs')}): {e}") from None
    return model.to(map_location).eval()
