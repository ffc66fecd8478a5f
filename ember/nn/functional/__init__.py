"""Stateless layer maths (``ember.nn.functional as F``): the op families of ``ember.ops``
that layers use, under PyTorch's names."""
from ember.ops import (cat, log_softmax, pad, relu, sigmoid, softmax, tanh)
from ember.nn.functional.activation import *
from ember.nn.functional.conv import *
from ember.nn.functional.dropout import *
from ember.nn.functional.linear import *
from ember.nn.functional.loss import *
from ember.nn.functional.normalization import *
from ember.nn.functional.pooling import *
from ember.nn.functional.sparse import *
from ember.nn.functional.upsampling import *
