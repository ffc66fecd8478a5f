"""The LRScheduler contract, checked on the concrete schedulers: closed forms equal the
chainable values, the deprecated ``step(epoch)`` jumps like PyTorch's, the warning when
stepped before the optimizer, and the errors."""
import math
import warnings

import numpy as np
import pytest
from optim.lr_scheduler._common import STEPS, build, make_optimizer

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
