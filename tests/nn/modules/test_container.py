"""Containers against PyTorch: Sequential (also from an OrderedDict), ModuleList and
ModuleDict: reprs, state_dict keys, indexing, append and insert; ParameterList and
ParameterDict: state_dict keys and values, list and dict methods, reprs, errors."""
from collections import OrderedDict

import numpy as np
import pytest
from _parity import import_torch, random_inputs

import ember
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


# --- ParameterList and ParameterDict ------------------------------------------------------

def _same_keys_and_values(em, tm):
    es, ts = em.state_dict(), tm.state_dict()
    assert list(es) == list(ts)
    for k in es:
        assert np.array_equal(es[k].numpy(), ts[k].numpy()), k


def _pair(*shapes):
    """The same random tensors for ember and torch."""
    arrays = random_inputs(shapes, np.float32)
    return [ember.tensor(a) for a in arrays], [torch.tensor(a) for a in arrays]


def test_parameter_list_like_torch():
    (e0, e1, e2, e3), (t0, t1, t2, t3) = _pair((2, 3), (3,), (1,), (4, 1))
    el, tl = enn.ParameterList([enn.Parameter(e0), e1]), torch.nn.ParameterList(
        [torch.nn.Parameter(t0), t1])
    assert isinstance(el[1], enn.Parameter) and el[1].requires_grad
    el.append(e2)
    tl.append(t2)
    el += [e3]
    tl += [t3]
    _same_keys_and_values(el, tl)
    assert len(el) == len(tl) == 4 and tuple(el[-1].shape) == (4, 1)
    assert [tuple(p.shape) for p in el] == [tuple(p.shape) for p in tl]
    assert [tuple(p.shape) for p in el[1:3]] == [(3,), (1,)]
    el[0], tl[0] = ember.zeros(5), torch.zeros(5)  # replaced in place: the key order stays
    _same_keys_and_values(el, tl)
    assert repr(el).replace("ember.", "torch.") == repr(tl)
    assert len(list(el.parameters())) == 4


def test_parameter_list_in_a_model_and_with_objects():
    em, tm = enn.Module(), torch.nn.Module()
    (e0,), (t0,) = _pair((2,))
    em.ws, tm.ws = enn.ParameterList([e0, "note"]), torch.nn.ParameterList([t0, "note"])
    _same_keys_and_values(em, tm)
    assert em.ws[1] == "note" and repr(em.ws).replace("ember.", "torch.") == repr(tm.ws)
    with pytest.raises(IndexError, match="ParameterList: index 2 is out of range"):
        em.ws[2]
    with pytest.raises(TypeError, match="should be called with an iterable"):
        em.ws.extend(5)
    with pytest.raises(RuntimeError, match="should not be called"):
        em.ws(e0)


def test_parameter_dict_like_torch():
    (a, b, c), (ta, tb, tc) = _pair((2, 3), (3,), (1,))
    ed = enn.ParameterDict({"b": b, "a": enn.Parameter(a)})  # a plain dict: sorted keys
    td = torch.nn.ParameterDict({"b": tb, "a": torch.nn.Parameter(ta)})
    _same_keys_and_values(ed, td)
    ed["c"], td["c"] = c, tc
    assert isinstance(ed["c"], enn.Parameter)
    assert list(ed) == list(td) and list(ed.keys()) == list(td.keys()) and len(ed) == 3
    assert [k for k, _ in ed.items()] == [k for k, _ in td.items()]
    assert [tuple(v.shape) for v in ed.values()] == [tuple(v.shape) for v in td.values()]
    assert "a" in ed and "z" not in ed and ed.get("z") is None
    _same_keys_and_values(ed, td)
    assert repr(ed).replace("ember.float32", "torch.FloatTensor") == repr(td)
    assert tuple(ed.pop("a").shape) == (2, 3) and tuple(td.pop("a").shape) == (2, 3)
    assert ed.popitem()[0] == td.popitem()[0] == "c"
    _same_keys_and_values(ed, td)
    ed.update([("y", c), ("x", a)])
    td.update([("y", tc), ("x", ta)])
    _same_keys_and_values(ed, td)
    assert list(ed.copy()) == list(td.copy()) and list(ed | {"q": c}) == list(td | {"q": tc})
    assert ed.setdefault("y") is ed["y"]
    del ed["y"]
    del td["y"]
    _same_keys_and_values(ed, td)
    ed.clear()
    assert len(ed) == 0 and list(ed.state_dict()) == []
    assert list(ed.fromkeys(["k", "j"], 1.0)) == ["k", "j"]


def test_parameter_dict_errors_and_nesting():
    ed = enn.ParameterDict()
    with pytest.raises(TypeError, match="ParameterDict: keys must be strings, got int"):
        ed[1] = ember.zeros(1)
    with pytest.raises(KeyError):
        ed["missing"]
    with pytest.raises(ValueError, match="element #0 of the iterable is not a"):
        ed.update([("a", ember.zeros(1), 3)])
    model, tmodel = enn.Module(), torch.nn.Module()
    (w,), (tw,) = _pair((2, 2))
    model.heads, tmodel.heads = enn.ParameterDict({"w": w}), torch.nn.ParameterDict({"w": tw})
    _same_keys_and_values(model, tmodel)
    loaded = enn.Module()
    loaded.heads = enn.ParameterDict({"w": ember.zeros(2, 2)})
    loaded.load_state_dict(model.state_dict())
    assert np.array_equal(loaded.heads["w"].detach().numpy(), w.numpy())
