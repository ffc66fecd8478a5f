"""The PyTorch twin of ``ember charlm``: the same character LSTM (or GPT) trained with the same
recipe.

    python benchmarks/charlm_torch.py --steps 800          # the flags of `ember charlm`

One loop for both: ``ember.train.charlm.fit`` (and its ``evaluate``) written in PyTorch's
API, run here with ``m=torch``. Same data (ember's Shakespeare splits), same batches (the
window starts of ``train_starts``: one seeded NumPy stream), same evaluation windows
(``eval_starts``), same initial weights (ember's freshly seeded CharLSTM copied into the
torch model by state_dict key), same optimizer (Adam, lr), clipping and float32. Only the
framework differs, so ember's validation loss should match within noise; it prints the
validation loss at every evaluation and the wall time, and writes them to ``--out`` (JSON).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch

import ember
from benchmarks.bench_transformer import torch_gpt
from ember.train.charlm import CharLMConfig, build_model, build_optimizer, fit, load_data


class TorchCharLSTM(torch.nn.Module):
    """ember.models.CharLSTM written in PyTorch (the same submodule names)."""

    def __init__(self, vocab_size, embed_dim=None, hidden_size=256, num_layers=1, dropout=0.0):
        super().__init__()
        self.vocab_size, self.embed_dim = vocab_size, embed_dim
        if embed_dim is not None:
            self.encoder = torch.nn.Embedding(vocab_size, embed_dim)
        self.lstm = torch.nn.LSTM(embed_dim or vocab_size, hidden_size, num_layers,
                                  batch_first=True, dropout=dropout if num_layers > 1 else 0.0)
        self.drop = torch.nn.Dropout(dropout)
        self.decoder = torch.nn.Linear(hidden_size, vocab_size)

    def forward(self, idx, state=None):
        x = (self.encoder(idx) if self.embed_dim is not None else
             torch.nn.functional.one_hot(idx, self.vocab_size).to(self.decoder.weight.dtype))
        out, state = self.lstm(x, state)
        return self.decoder(self.drop(out)), state


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for f in dataclasses.fields(CharLMConfig):
        if f.name in ("name", "out_dir", "progress"):
            continue
        parser.add_argument("--" + f.name.replace("_", "-"), dest=f.name, type=type(f.default),
                            default=f.default)
    parser.add_argument("--out", default="", help="write the results here (JSON)")
    args = parser.parse_args(argv)
    out = args.__dict__.pop("out")
    cfg = CharLMConfig(**vars(args))
    cfg.check()
    train, val = load_data(cfg)
    ember.manual_seed(cfg.seed)
    kwargs = cfg.model_kwargs(train.vocab_size)
    if cfg.model == "gpt":
        if cfg.dropout:
            raise SystemExit("the torch GPT twin has no dropout layers: use --dropout 0")
        model = torch_gpt(torch, kwargs)
    else:
        model = TorchCharLSTM(**kwargs)
    model.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                           for k, v in build_model(cfg.model, kwargs).state_dict().items()})
    torch.manual_seed(cfg.seed)
    optimizer = build_optimizer(model, cfg, m=torch)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {cfg}")
    history = []
    for _, _, entry in fit(model, optimizer, train, val, cfg, m=torch):
        if entry is not None:
            history.append(entry)
            print(json.dumps(entry), flush=True)
    result = dict(history[-1], history=history, config=dataclasses.asdict(cfg),
                  torch=torch.__version__, threads=torch.get_num_threads())
    if out:
        with open(out, "w") as f:
            json.dump(result, f, indent=2)
    print(f"torch twin: validation loss {history[-1]['val_loss']:.4f} nats/char after "
          f"{cfg.steps} steps, {history[-1]['seconds']:.0f} s")
    return result


if __name__ == "__main__":
    main()
