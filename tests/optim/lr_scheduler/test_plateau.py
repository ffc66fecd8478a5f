"""ReduceLROnPlateau against torch.optim.lr_scheduler, also across a state_dict resume."""
import numpy as np
import pytest
from optim.lr_scheduler._common import make_optimizer

import ember


@pytest.mark.parametrize("kwargs", [
    dict(), dict(mode="max", factor=0.5, patience=2), dict(threshold_mode="abs", threshold=0.05,
                                                           cooldown=3, patience=1),
    dict(mode="max", threshold_mode="abs", min_lr=[0.01, 0.05], patience=0, eps=1e-3),
])
def test_reduce_lr_on_plateau_matches_torch(torch, kwargs):
    rng = np.random.default_rng(0)
    metrics = np.concatenate([np.linspace(1, 0.5, 20), 0.5 + 0.02 * rng.standard_normal(80)])
    results = []
    for m in (ember, torch):
        opt = make_optimizer(m)
        sched = m.optim.lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
        lrs = []
        for i, value in enumerate(metrics):
            opt.step()
            sched.step(value)
            lrs.append(list(sched.get_last_lr()))
            if i == 50 and m is ember:  # resume mid-way through a JSON-able state_dict
                state = sched.state_dict()
                sched = ember.optim.lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
                sched.load_state_dict(state)
        results.append(lrs)
    assert results[0] == results[1]
    assert results[0][0] != results[0][-1], "the lr never dropped: a weak test"
