"""Stateless layer maths (``ember.nn.functional as F``): the op families of ``ember.ops``
that layers use, under PyTorch's names."""
from ember.ops import (cat, log_softmax, pad, relu, sigmoid, softmax, tanh)
from ember.ops.activation import *
from ember.ops.conv import *
from ember.ops.dropout import *
from ember.ops.linear import *
from ember.ops.loss import *
from ember.ops.norm import *
from ember.ops.pool import *
from ember.ops.sparse import *
from ember.ops.upsample import *
