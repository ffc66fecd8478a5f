"""Stateless layer maths (``ember.nn.functional as F``), one file per layer family, under
PyTorch's names. Each family file holds its public functions (the door: arguments are
checked here, once) and the Functions behind them; code that exists only for speed or for
one device is in ``ember.kernels``. ``F.linear`` and ``F.dropout`` are functions, as in
PyTorch, so their family files are reached as ``ember.nn.functional.linear`` only by
import, not by attribute."""
from ember.ops import cat, pad
from ember.nn.functional.activation import *
from ember.nn.functional.attention import *
from ember.nn.functional.conv import *
from ember.nn.functional.distance import *
from ember.nn.functional.dropout import *
from ember.nn.functional.fold import *
from ember.nn.functional.instancenorm import *
from ember.nn.functional.linear import *
from ember.nn.functional.loss import *
from ember.nn.functional.loss_margin import *
from ember.nn.functional.loss_nll import *
from ember.nn.functional.normalization import *
from ember.nn.functional.pixelshuffle import *
from ember.nn.functional.pooling import *
from ember.nn.functional.sparse import *
from ember.nn.functional.upsampling import *
from ember.nn.functional.vision import *
