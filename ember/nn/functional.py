"""Stateless layer maths (``ember.nn.functional as F``): the op families of ``ember.ops``
that layers use, under PyTorch's names."""
from ember.ops import (cat, log_softmax, pad, relu, sigmoid, softmax, tanh)  # noqa: F401
from ember.ops.activation import *  # noqa: F401,F403
from ember.ops.conv import *  # noqa: F401,F403
from ember.ops.dropout import *  # noqa: F401,F403
from ember.ops.linear import *  # noqa: F401,F403
from ember.ops.loss import *  # noqa: F401,F403
from ember.ops.norm import *  # noqa: F401,F403
from ember.ops.pool import *  # noqa: F401,F403
from ember.ops.sparse import *  # noqa: F401,F403
from ember.ops.upsample import *  # noqa: F401,F403
