"""The LRScheduler contract, checked on the concrete schedulers: closed forms equal the
chainable values, the deprecated ``step(epoch)`` jumps like PyTorch's, the warning when
stepped before the optimizer, and the errors."""
import math
import warnings

import numpy as np
import pytest
from optim.lr_scheduler._common import COMPOSITE, CYCLIC, DECAY, STEPS, build, make_optimizer

import ember


def test_closed_forms_match_recursive_values(torch):
    """Each documented closed form gives the chainable sequence's values (to rounding)."""
    for name in ["StepLR", "MultiStepLR", "ExponentialLR", "ConstantLR", "LinearLR",
                 "PolynomialLR", "CosineAnnealingLR"]:
        opt, sched = build(ember, name)
        for t in range(1, STEPS):
            opt.step()
            sched.step()
            np.testing.assert_allclose(sched._get_closed_form_lr(), sched.get_last_lr(),
                                       rtol=1e-12, atol=1e-15, err_msg=f"{name} at {t}")


def test_deprecated_epoch_argument_matches_torch(torch):
    for name in ["StepLR", "CosineAnnealingLR", "CosineAnnealingWarmRestarts-mult"]:
        results = []
        for m in (ember, torch):
            opt, sched = build(m, name)
            lrs = []
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for epoch in [3, 4.5, 7, 12.25, 30, 40]:
                    opt.step()
                    sched.step(epoch)
                    lrs.append(sched.get_last_lr())
            results.append(lrs)
        np.testing.assert_allclose(results[0], results[1], rtol=1e-14, err_msg=name)


def test_warns_when_stepped_before_the_optimizer():
    opt = make_optimizer(ember)
    sched = ember.optim.lr_scheduler.StepLR(opt, 3)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        sched.step()


def test_errors():
    opt = make_optimizer(ember)
    s = ember.optim.lr_scheduler
    with pytest.raises(TypeError, match="needs an ember Optimizer"):
        s.StepLR(object(), 3)
    with pytest.raises(KeyError, match="initial_lr"):
        s.StepLR(opt, 3, last_epoch=5)
    with pytest.raises(ValueError, match="one milestone fewer"):
        s.SequentialLR(opt, [s.StepLR(opt, 3), s.StepLR(opt, 4)], milestones=[])
    with pytest.raises(ValueError, match="Tried to step"):
        sched = s.OneCycleLR(opt, max_lr=1.0, total_steps=3)
        for _ in range(4):
            opt.step()
            sched.step()
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas"):
        s.LambdaLR(opt, [math.exp])


@pytest.mark.parametrize("name", sorted({**DECAY, **CYCLIC}))
def test_load_state_dict_refuses_garbage_and_changes_nothing(name):
    opt, sched = build(ember, name)
    for _ in range(3):
        opt.step()
        sched.step()
    before = sched.state_dict()
    for bad, error, message in [
            ({"last_epoch": "three"}, ValueError, r"'last_epoch' should be a int like 3"),
            ({"base_lrs": [0.1]}, ValueError, r"'base_lrs' should be a list of 2 values"),
            ({"nonsense": 1}, ValueError, r"unexpected keys \['nonsense'\]"),
            ([1, 2], TypeError, "expects a dict")]:
        with pytest.raises(error, match=f"{type(sched).__name__}.load_state_dict.*{message}"):
            sched.load_state_dict(bad)
        assert sched.state_dict().keys() == before.keys()
        assert sched.last_epoch == 3 and sched.base_lrs == before["base_lrs"]
    _, twin = build(ember, name)
    twin.load_state_dict(sched.state_dict())  # a real state still loads
    assert twin.last_epoch == 3


def test_plateau_load_state_dict_refuses_garbage():
    opt = make_optimizer(ember)
    sched = ember.optim.lr_scheduler.ReduceLROnPlateau(opt)
    with pytest.raises(ValueError, match="'mode' should be a str"):
        sched.load_state_dict({"mode": 3})
    with pytest.raises(ValueError, match="'best' should be a float"):
        sched.load_state_dict({"best": "low"})
    sched.load_state_dict(sched.state_dict())


@pytest.mark.parametrize("name", sorted(COMPOSITE))
def test_composite_load_state_dict_checks_its_schedulers(name):
    _, sched = build(ember, name)
    state = sched.state_dict()
    inner = [dict(s) for s in state["_schedulers"]]
    inner[-1]["last_epoch"] = "three"
    with pytest.raises(ValueError, match="'last_epoch' should be a int"):
        sched.load_state_dict(dict(state, _schedulers=inner))
    assert sched.state_dict()["_schedulers"][-1]["last_epoch"] == state["_schedulers"][-1][
        "last_epoch"]
    with pytest.raises(ValueError, match="should be a list of"):
        sched.load_state_dict(dict(state, _schedulers=inner[:1] * 5))
    sched.load_state_dict(state)
