"""matmul (batched, broadcasting, 1-D operands) and einsum against PyTorch."""
from functools import partial

import numpy as np
import pytest

import ember
from _parity import DEVICE, check_grad, check_op, import_torch
from _table import Op

MATMUL_SHAPES = [
    ((3, 4), (4, 5)), ((2, 3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)),
    ((2, 1, 3, 4), (5, 4, 2)), ((4,), (2, 4, 3)), ((2, 3, 4), (4,)), ((1, 3, 4), (2, 4, 2)),
]

MATMUL_FORMS = {
    "operator": Op(lambda m, a, b: a @ b),
    "function": Op(lambda m, a, b: m.matmul(a, b)),
    "method": Op(lambda m, a, b: a.matmul(b)),
}


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul_parity_and_gradcheck(shapes):
    MATMUL_FORMS["operator"].parity(shapes=shapes)
    MATMUL_FORMS["operator"].gradcheck(shapes)


@pytest.mark.parametrize("form", list(MATMUL_FORMS))
def test_matmul_forms(form):
    torch = import_torch()
    MATMUL_FORMS[form].parity(np.float32, shapes=((2, 3, 4), (2, 4, 5)))
    check_op(lambda a, b: ember.mm(a, b), lambda a, b: torch.mm(a, b), shapes=((3, 4), (4, 2)))
    check_op(lambda a, b: ember.bmm(a, b), lambda a, b: torch.bmm(a, b),
             shapes=((2, 3, 4), (2, 4, 2)))


def test_matmul_one_side_constant():
    torch = import_torch()
    w = np.random.default_rng(1).standard_normal((4, 5))
    check_op(lambda a: a @ ember.tensor(w, device=DEVICE), lambda a: a @ torch.tensor(w),
             shapes=[(3, 4)])
    check_op(lambda a: ember.tensor(w.T, device=DEVICE) @ a, lambda a: torch.tensor(w.T) @ a,
             shapes=[(4, 2)])


@pytest.mark.parametrize("a, b", [((3, 4), (5, 6)), ((4,), (3,)), ((2, 3, 4), (3, 4)),
                                  ((3,), (2, 4, 5))])
def test_matmul_error_names_both_shapes(a, b):
    with pytest.raises(ValueError) as info:
        ember.ones(*a) @ ember.ones(*b)
    assert str(a) in str(info.value) and str(b) in str(info.value)


def test_matmul_scalar_refused():
    with pytest.raises(ValueError, match="at least one dimension"):
        ember.matmul(ember.tensor(2.0), ember.ones(3))


EINSUM = [
    ("ij,jk->ik", ((3, 4), (4, 5))),
    ("bij,bjk->bik", ((2, 3, 4), (2, 4, 5))),
    ("ij,jk", ((3, 4), (4, 2))),
    ("i,i->", ((4,), (4,))),
    ("i,j->ij", ((3,), (4,))),
    ("ij->ji", ((3, 4),)),
    ("ij->", ((3, 4),)),
    ("ij->j", ((3, 4),)),
    ("bi,bi->b", ((3, 4), (3, 4))),
    ("ij,jk,kl->il", ((2, 3), (3, 4), (4, 2))),
    ("...ij,...jk->...ik", ((2, 3, 4), (2, 4, 5))),
    ("...ij,...jk->...ik", ((2, 3, 4), (1, 4, 5))),
    ("...ij,jk", ((2, 2, 3, 4), (4, 5))),
    ("...i,i->...", ((2, 3, 4), (4,))),
    ("b...,b...->b", ((2, 3, 4), (2, 3, 4))),
    ("ij,kj->ik", ((3, 4), (2, 4))),
    ("bhqd,bhkd->bhqk", ((1, 2, 3, 4), (1, 2, 5, 4))),
    ("i j , j k -> i k", ((3, 4), (4, 2))),
    ("ik,k->i", ((3, 1), (4,))),
    ("ii->", ((3, 3),)),
    ("ii->i", ((3, 3),)),
    ("ii", ((3, 3),)),
    ("bii->bi", ((2, 3, 3),)),
    ("iij,jk->ik", ((2, 2, 3), (3, 4))),
    ("ij,jj->i", ((2, 3), (3, 3))),
]


@pytest.mark.parametrize("equation, shapes", EINSUM, ids=[e for e, _ in EINSUM])
def test_einsum_parity_and_gradcheck(equation, shapes):
    torch = import_torch()
    fn = lambda m, *xs: m.einsum(equation, *xs)
    check_op(partial(fn, ember), partial(fn, torch), shapes=shapes)
    check_grad(partial(fn, ember), shapes=shapes)


def test_einsum_operand_list_and_errors():
    a, b = ember.ones(2, 3), ember.ones(3, 4)
    assert ember.einsum("ij,jk->ik", [a, b]).shape == (2, 4)
    with pytest.raises(ValueError, match="operands"):
        ember.einsum("ij,jk->ik", a)
    with pytest.raises(ValueError, match="dims"):
        ember.einsum("ijk,jk->i", a, b)


def test_linalg_on_device(device):
    a = ember.randn(2, 3, 4, device=device, requires_grad=True)
    b = ember.randn(4, 5, device=device, requires_grad=True)
    (a @ b).sum().backward()
    ember.einsum("bij,jk->bk", a, b).sum().backward()
    assert a.grad.device == ember.device(device) and b.grad.shape == b.shape
