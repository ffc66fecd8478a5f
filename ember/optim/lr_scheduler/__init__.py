"""Learning-rate schedulers, step for step the values PyTorch's produce.

A scheduler owns ``last_epoch`` (how many times it has stepped; 0 after construction) and
``base_lrs`` (each group's ``initial_lr``), and writes ``lr`` into the optimizer's
``param_groups`` on every ``step()``. Call ``optimizer.step()`` first, then
``scheduler.step()``.

Each class documents its closed form, ``lr_t = f(base_lr, t)``, and implements it in
``_get_closed_form_lr``. Where PyTorch's scheduler is *chainable* (it rescales the group's
current ``lr``, so that two schedulers stepped together multiply their effects) ``get_lr``
keeps that recursive form, since chained use is part of the behaviour users rely on; on its
own it gives the closed form's values (to rounding).

One file per family, each listing its public classes in ``__all__``: ``base`` (the
``LRScheduler`` base class), ``decay`` (step-indexed decay and warm-up), ``cyclic`` (cosine
annealing, warm restarts, 1cycle), ``plateau`` (``ReduceLROnPlateau``) and ``composite``
(``SequentialLR``, ``ChainedScheduler``).
"""
from ember.optim.lr_scheduler.base import LRScheduler
from ember.optim.lr_scheduler.composite import ChainedScheduler, SequentialLR
from ember.optim.lr_scheduler.cyclic import (
    CosineAnnealingLR,
    CosineAnnealingWarmRestarts,
    OneCycleLR,
)
from ember.optim.lr_scheduler.decay import (
    ConstantLR,
    ExponentialLR,
    InverseTimeLR,
    LambdaLR,
    LinearLR,
    MultiplicativeLR,
    MultiStepLR,
    PolynomialLR,
    StepLR,
)
from ember.optim.lr_scheduler.plateau import ReduceLROnPlateau

__all__ = ["ChainedScheduler", "ConstantLR", "CosineAnnealingLR", "CosineAnnealingWarmRestarts",
           "ExponentialLR", "InverseTimeLR", "LRScheduler", "LambdaLR", "LinearLR", "MultiStepLR",
           "MultiplicativeLR", "OneCycleLR", "PolynomialLR", "ReduceLROnPlateau", "SequentialLR",
           "StepLR"]
