"""Layers, one file per family, each listing its public classes in ``__all__``."""
from ember.nn.modules.module import Module, RemovableHandle  # noqa: F401
from ember.nn.modules.container import *  # noqa: F401,F403
from ember.nn.modules.linear import *  # noqa: F401,F403
from ember.nn.modules.activation import *  # noqa: F401,F403
from ember.nn.modules.loss import *  # noqa: F401,F403
from ember.nn.modules.dropout import *  # noqa: F401,F403
from ember.nn.modules.sparse import *  # noqa: F401,F403
from ember.nn.modules.conv import *  # noqa: F401,F403
from ember.nn.modules.pooling import *  # noqa: F401,F403
from ember.nn.modules.upsampling import *  # noqa: F401,F403
from ember.nn.modules.normalization import *  # noqa: F401,F403
