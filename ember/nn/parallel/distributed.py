"""DistributedDataParallel: one model replica per process, gradients averaged over the group.

At construction rank 0's parameters and buffers are broadcast to every rank. Parameters are
packed, in reverse order (roughly the order backward produces their gradients), into buckets
of at most ``bucket_cap_mb`` MiB (by default 25, and the first 1 MiB, as PyTorch, so
communication starts early). Each forward (with grad enabled and gradient sync on) counts how
many gradients every parameter will receive, by walking the graph from the outputs; a
gradient hook on each parameter copies its gradient into its bucket when the last one
arrives ("marks it ready"), and a bucket whose parameters are all ready is all-reduced at
once, non-blocking, while backward goes on. The hook of the last parameter waits for every
bucket and writes the averaged gradients into ``.grad``, so ``loss.backward()`` returns with
them in place. ``no_sync()`` skips all of it: gradients accumulate locally and the next
synced backward averages the sums.

Parameters the forward did not use are PyTorch's ``find_unused_parameters``: with it, they
are marked ready at the first hook of the backward (their slot holds their ``.grad`` or
zeros) and a map of which parameters each rank used is all-reduced with the last bucket, so
a parameter unused on every rank keeps its ``.grad`` untouched; without it, a backward that
ends with unused parameters raises an error naming them. A gradient that reaches a
parameter already marked ready (more gradients than the forward's graph promised, or a
second backward through one forward) raises PyTorch's "marked ready twice" error.
"""
from __future__ import annotations

import contextlib
import time

import numpy as np

from ember import backend
from ember.autograd import is_grad_enabled
from ember.distributed.collectives import broadcast
from ember.distributed.process_group import group_of, is_member
from ember.nn.modules.module import Module
from ember.ops.inplace import increment_version
from ember.tensor import Tensor

__all__ = ["DistributedDataParallel"]

_MiB = 1 << 20
_FIRST_BUCKET_BYTES = 1 * _MiB


def broadcast_coalesced(tensors, group, src=0):
    """Broadcast ``tensors`` from ``src`` with one collective per dtype (their values packed
    into one flat array), writing into each tensor in place."""
    by_dtype = {}
    for t in tensors:
        by_dtype.setdefault(t.array.dtype, []).append(t)
    for ts in by_dtype.values():
        flat = np.concatenate([backend.to_numpy(t.array).ravel() for t in ts])
        broadcast(Tensor._make(flat), group=group, group_src=src)
        offset = 0
        for t in ts:
            n = t.array.size
            t.array[...] = backend.get_array_module(t.array).asarray(
                flat[offset:offset + n].reshape(t.array.shape))
            increment_version(t)
            offset += n


class _Bucket:
    def __init__(self, index, params, dtype):
        self.index, self.params = index, params
        self.offsets, n = [], 0
        for p in params:
            self.offsets.append(n)
            n += p.array.size
        self.buffer = np.zeros(n, dtype)
        self.work = None


class _Iteration:
    """What one synced backward still waits for."""

    def __init__(self, expected, buckets):
        self.remaining = expected                    # param index -> gradients to come
        self.unused = [i for i, c in expected.items() if c == 0]
        self.outstanding = len(expected) - len(self.unused)  # used params not yet ready
        self.ready = [False] * len(expected)         # marked ready (slot in the bucket)
        self.pending = [len(b.params) for b in buckets]  # per bucket: params not yet ready
        self.marked_unused = False                   # the first hook marks the unused
        self.used_work = self.used_map = None        # find_unused_parameters' all-reduce
        self.launched = 0                            # buckets started, in index order
        self.fired = False
        self.done = False
        self.comm_seconds = 0.0                      # spent launching and waiting


class DistributedDataParallel(Module):
    """Wrap ``module`` so that ``loss.backward()`` leaves every rank with the gradient
    averaged over the process group (PyTorch's ``nn.parallel.DistributedDataParallel``).

    Each process feeds its own part of the batch (a ``DistributedSampler`` shard); with the
    loss a mean over the local batch, the averaged gradient is that of the mean over the
    global batch. ``state_dict`` keys carry PyTorch's ``module.`` prefix. ``device_ids``,
    ``output_device``, ``dim``, ``check_reduction``, ``gradient_as_bucket_view`` and
    ``static_graph`` are accepted for PyTorch's signature and change nothing here.

    ``find_unused_parameters`` (PyTorch's, default False): every forward finds the
    parameters its output does not depend on, and its backward marks them ready at once:
    their share of the all-reduce is their ``.grad`` (zeros where None); a parameter unused
    on every rank keeps its ``.grad`` as it was, one used on some rank gets the average (an
    extra all-reduce of a used-parameter map per step, as PyTorch). Without it every
    parameter must take part in the loss: a backward that ends with parameters the forward
    did not use raises a RuntimeError naming them (PyTorch raises at the next forward; the
    ``.grad`` of the others then holds this rank's own, unaveraged, gradients, and backward
    stops there).

    A gradient that reaches a parameter after it was marked ready (a parameter used outside
    the forward, e.g. a weight penalty added to the loss; a second backward through one
    forward) raises PyTorch's "Expected to mark a variable ready only once" RuntimeError
    naming it, rather than leave it unaveraged (PyTorch silently accumulates the second
    backward locally); so does a backward through the wrapped module called directly after
    a reduced step. Whether a backward is reduced is decided by its forward, as in PyTorch:
    the backward of a forward run under ``no_sync()`` accumulates locally; a backward run
    under ``no_sync()`` is local too unless its forward was a synced one.

    ``overlap`` (an ember extra, default True): start each bucket's all-reduce as soon as it
    is full during backward; False defers all of them to the end of backward (to measure
    what overlap saves).
    """

    def __init__(self, module, device_ids=None, output_device=None, dim=0,
                 broadcast_buffers=True, init_sync=True, process_group=None,
                 bucket_cap_mb=None, find_unused_parameters=False, check_reduction=False,
                 gradient_as_bucket_view=False, static_graph=False, *, overlap=True):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: module must be an ember.nn.Module, got "
                            f"{type(module).__name__}")
        self.module = module
        self.process_group = group_of(process_group, "DistributedDataParallel")
        if not is_member(self.process_group):
            raise ValueError("DistributedDataParallel: this process is not in process_group "
                             "(new_group gave it GroupMember.NON_GROUP_MEMBER)")
        self.broadcast_buffers, self.find_unused_parameters = broadcast_buffers, \
            find_unused_parameters
        self.bucket_bytes_cap = int((25 if bucket_cap_mb is None else bucket_cap_mb) * _MiB)
        self._first_bucket_bytes = _FIRST_BUCKET_BYTES if bucket_cap_mb is None else \
            self.bucket_bytes_cap
        self.overlap = overlap
        self.require_backward_grad_sync = True
        self.comm_seconds = 0.0  # all-reduce time of the last synced backward (benchmarks)
        params = [p for p in module.parameters() if p.requires_grad]
        names = {id(p): n for n, p in module.named_parameters()}
        self._names = [names.get(id(p), "?") for p in params]
        self._params = params
        self._index = {id(p): i for i, p in enumerate(params)}
        if init_sync and self.process_group.size > 1:
            broadcast_coalesced(list(module.parameters()) + self._buffers_to_sync(),
                                self.process_group)
        self._buckets = self._make_buckets(params)
        self._where = {}  # param index -> (bucket, position in it)
        for b in self._buckets:
            for k, p in enumerate(b.params):
                self._where[self._index[id(p)]] = (b, k)
        self._state = None
        for i, p in enumerate(params):
            p.register_hook(self._make_hook(i))

    def _buffers_to_sync(self):
        return [b for b in self.module.buffers() if b is not None]

    def _make_buckets(self, params):
        buckets, current, size, cap = [], [], 0, self._first_bucket_bytes
        for p in reversed(params):
            nbytes = p.array.nbytes
            if current and (size + nbytes > cap or p.array.dtype != current[0].array.dtype):
                buckets.append(_Bucket(len(buckets), current, current[0].array.dtype))
                current, size, cap = [], 0, self.bucket_bytes_cap
            current.append(p)
            size += nbytes
        if current:
            buckets.append(_Bucket(len(buckets), current, current[0].array.dtype))
        return buckets

    @property
    def bucket_sizes(self):
        """The number of parameters in each bucket, in launch order (an ember extra)."""
        return [len(b.params) for b in self._buckets]

    # --- forward: prepare the reduction --------------------------------------------------
    def forward(self, *inputs, **kwargs):
        if is_grad_enabled():
            self._check_prior_reduction()
        if self.broadcast_buffers and self.process_group.size > 1:
            self.sync_buffers()
        out = self.module(*inputs, **kwargs)
        if is_grad_enabled() and self._params:
            if self.require_backward_grad_sync:
                self._prepare(out)
            else:  # a no_sync forward: its backward accumulates locally
                self._state = None
        return out

    def sync_buffers(self):
        """Copy rank 0's buffers (BatchNorm's running statistics) to every rank (done before
        each forward with ``broadcast_buffers=True``; an ember extra to call by hand)."""
        buffers = self._buffers_to_sync()
        if buffers:
            broadcast_coalesced(buffers, self.process_group)

    def _names_of(self, indices):
        return ", ".join(f"{self._names[i]} (index {i})" for i in indices)

    def _check_prior_reduction(self):
        old = self._state
        if old is None or old.done or not old.fired:
            return  # a forward without backward launched nothing: no collective to match
        missing = [i for i, ready in enumerate(old.ready) if not ready]
        raise RuntimeError(
            "DistributedDataParallel: Expected to have finished reduction in the prior "
            "iteration before starting a new one. This error indicates that your module has "
            "parameters that were not used in producing loss. You can enable unused parameter "
            "detection by passing the keyword argument `find_unused_parameters=True` to "
            "DistributedDataParallel, and by making sure all `forward` function outputs "
            f"participate in calculating loss. Parameters which did not receive grad for rank "
            f"{self.process_group.rank}: {self._names_of(missing[:10])}"
            + (f" and {len(missing) - 10} more" if len(missing) > 10 else ""))

    def _prepare(self, out):
        expected = {i: 0 for i in range(len(self._params))}
        for leaf in _leaves(out):
            i = self._index.get(id(leaf))
            if i is not None:
                expected[i] += 1
        self._state = _Iteration(expected, self._buckets)

    # --- backward: the hooks -------------------------------------------------------------
    def _make_hook(self, i):
        def hook(grad):
            state = self._state
            if state is None or (state.done and not self.require_backward_grad_sync):
                return None  # after a no_sync forward, or a backward asked to be local
            if state.done or state.remaining[i] == 0:
                self._marked_twice(state, i)
            if not state.marked_unused:
                state.marked_unused = True
                if self.find_unused_parameters:
                    for j in state.unused:  # ready now: their .grad (or zeros) is final
                        self._store(state, j, None)
            state.fired = True
            state.remaining[i] -= 1
            if state.remaining[i] > 0:
                return None
            self._store(state, i, grad.array)
            state.outstanding -= 1
            self._progress(state)
            if self.overlap:
                self._launch_ready(state)
            if not any(state.pending):
                return self._finish(state, i)
            if state.outstanding == 0:  # every used parameter is in: the rest are unused
                self._unused_error(state)
            return None
        return hook

    def _marked_twice(self, state, i):
        if state.done:
            when = "after this backward's reduction had finished"
        elif state.ready[i]:
            when = "after it had been marked ready (its all-reduce may have started)"
        else:
            when = "that the forward's graph did not lead to"
        raise RuntimeError(
            "DistributedDataParallel: Expected to mark a variable ready only once. Parameter "
            f"{self._names_of([i])} received a gradient {when}, so it "
            "would be left unaveraged. This is caused by 1) use of a module parameter "
            "outside the `forward` function (e.g. a penalty on the weights added to the "
            "loss: compute it inside forward), or 2) a backward without a new forward of "
            "the DistributedDataParallel module (a second backward through one forward, or "
            "through the wrapped module called directly: run it under no_sync() to keep "
            "its gradients local).")

    def _unused_error(self, state):
        unused = [i for i, ready in enumerate(state.ready) if not ready]
        raise RuntimeError(
            "DistributedDataParallel: this backward reached every parameter its forward used, "
            f"but on rank {self.process_group.rank} these parameters were not used in "
            f"producing the output: {self._names_of(unused[:10])}"
            + (f" and {len(unused) - 10} more" if len(unused) > 10 else "") +
            ". Their buckets cannot be all-reduced, so no gradient was averaged (.grad holds "
            "this rank's own, and backward stopped here). Pass `find_unused_parameters=True` to DistributedDataParallel "
            "if parameters may go unused in a forward, or make sure all `forward` function "
            "outputs participate in calculating loss.")

    def _store(self, state, i, grad):
        """Mark parameter i ready: put its final gradient (the stored one plus ``grad``)
        in its bucket."""
        p = self._params[i]
        b, k = self._where[i]
        total = grad if p.grad is None else (p.grad.array if grad is None else
                                             p.grad.array + grad)
        view = b.buffer[b.offsets[k]:b.offsets[k] + p.array.size]
        if total is None:
            view[...] = 0
        else:
            view[...] = backend.to_numpy(total).ravel()
        state.ready[i] = True
        state.pending[b.index] -= 1

    def _launch_ready(self, state):
        start = time.perf_counter()
        g = self.process_group
        while state.launched < len(self._buckets) and state.pending[state.launched] == 0:
            b = self._buckets[state.launched]
            b.work = g.start(g.backend.allreduce(b.buffer, "sum"),
                             f"DistributedDataParallel all-reduce of bucket {b.index}")
            state.launched += 1
        if self.find_unused_parameters and state.used_work is None and \
                state.launched == len(self._buckets):
            state.used_map = np.ones(len(self._params), np.int32)
            state.used_map[state.unused] = 0
            state.used_work = g.start(g.backend.allreduce(state.used_map, "sum"),
                                      "DistributedDataParallel all-reduce of the map of "
                                      "used parameters")
        state.comm_seconds += time.perf_counter() - start

    def _progress(self, state):
        """Let MPI move the buckets in flight along (it progresses inside MPI calls)."""
        for b in self._buckets[:state.launched]:
            if not b.work.done:
                b.work.is_completed()

    def _finish(self, state, current):
        """Every parameter is ready: wait for the buckets, average, write ``.grad``. Returns
        parameter ``current``'s averaged gradient for the engine to store (its hook is
        running: the engine adds what the hook returns to ``.grad``, so that is None)."""
        self._launch_ready(state)
        start = time.perf_counter()
        size = self.process_group.size
        for b in self._buckets:
            b.work.wait()
            b.buffer /= size
        if state.used_work is not None:
            state.used_work.wait()
        state.comm_seconds += time.perf_counter() - start
        self.comm_seconds = state.comm_seconds
        state.done = True
        result = None
        for i, p in enumerate(self._params):
            if state.used_map is not None and state.used_map[i] == 0:
                continue  # unused on every rank: .grad untouched, as PyTorch
            b, k = self._where[i]
            flat = b.buffer[b.offsets[k]:b.offsets[k] + p.array.size]
            value = backend.get_array_module(p.array).array(flat.reshape(p.array.shape))
            if i == current:
                p.grad, result = None, Tensor._make(value)
            else:
                p.grad = Tensor._make(value)
        return result

    @contextlib.contextmanager
    def no_sync(self):
        """Within this context gradients accumulate in ``.grad`` without communication; the
        first synced backward after it averages the accumulated gradients."""
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old


def _tensors(out):
    if isinstance(out, Tensor):
        yield out
    elif isinstance(out, (list, tuple)):
        for o in out:
            yield from _tensors(o)
    elif isinstance(out, dict):
        for o in out.values():
            yield from _tensors(o)


def _leaves(out):
    """Every leaf tensor the graph behind ``out`` will send a gradient to, once per edge
    (as often as backward will deliver one)."""
    stack = [t.grad_fn for t in _tensors(out) if t.grad_fn is not None]
    seen = set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        for t, need in zip(node.__dict__.get("inputs", ()), node.needs_input_grad):
            if not need or not isinstance(t, Tensor):
                continue
            if t.grad_fn is None:
                yield t
            else:
                stack.append(t.grad_fn)
