"""Layers, one file per family, each listing its public classes in ``__all__``."""
from ember.nn.modules.module import Module, RemovableHandle
from ember.nn.modules.container import *
from ember.nn.modules.linear import *
from ember.nn.modules.activation import *
from ember.nn.modules.loss import *
from ember.nn.modules.loss_margin import *
from ember.nn.modules.loss_nll import *
from ember.nn.modules.dropout import *
from ember.nn.modules.fold import *
from ember.nn.modules.sparse import *
from ember.nn.modules.conv import *
from ember.nn.modules.pooling import *
from ember.nn.modules.upsampling import *
from ember.nn.modules.normalization import *
from ember.nn.modules.sync_batchnorm import *
from ember.nn.modules.instancenorm import *
from ember.nn.modules.lazy import *
from ember.nn.modules.distance import *
from ember.nn.modules.pixelshuffle import *
from ember.nn.modules.padding import *
from ember.nn.modules.rnn import *
from ember.nn.modules.attention import *
from ember.nn.modules.transformer import *
