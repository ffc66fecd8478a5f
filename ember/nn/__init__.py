"""Neural-network building blocks: Module, Parameter, layers, losses, init, functional."""
from ember.nn.parameter import Buffer, Parameter, UninitializedBuffer, UninitializedParameter
from ember.nn.modules import *
from ember.nn.modules import Module
from ember.nn import functional, init
from ember.nn import utils
from ember.nn import parallel  # noqa: F401  (ember.nn.parallel.DistributedDataParallel)
