"""Neural-network building blocks: Module, Parameter, layers, losses, init, functional."""
from ember.nn.parameter import Buffer, Parameter  # noqa: F401
from ember.nn.modules import *  # noqa: F401,F403
from ember.nn.modules import Module  # noqa: F401
from ember.nn import functional, init  # noqa: F401,E402
from ember.nn import utils  # noqa: F401,E402
