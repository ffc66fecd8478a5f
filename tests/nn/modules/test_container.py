"""Containers against PyTorch: Sequential (also from an OrderedDict), ModuleList and
ModuleDict: reprs, state_dict keys, indexing, append and insert."""
from collections import OrderedDict

from _parity import import_torch

import ember.nn as enn

torch = import_torch()


def test_containers_like_torch():
    seq = enn.Sequential(OrderedDict([("fc", enn.Linear(2, 3)), ("act", enn.ReLU())]))
    tseq = torch.nn.Sequential(OrderedDict([("fc", torch.nn.Linear(2, 3)),
                                            ("act", torch.nn.ReLU())]))
    assert repr(seq) == repr(tseq) and list(seq.state_dict()) == list(tseq.state_dict())
    assert isinstance(seq[0], enn.Linear) and len(seq[1:]) == 1
    ml = enn.ModuleList([enn.ReLU()])
    ml.append(enn.Linear(1, 1))
    ml.insert(0, enn.Tanh())
    assert [type(m).__name__ for m in ml] == ["Tanh", "ReLU", "Linear"]
    assert list(ml.state_dict()) == ["2.weight", "2.bias"]
    md = enn.ModuleDict({"x": enn.Linear(1, 2)})
    assert "x" in md and list(md.keys()) == ["x"] and list(md.state_dict()) == ["x.weight",
                                                                              "x.bias"]
