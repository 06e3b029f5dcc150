"""Layers: Linear, Sequential, Residual, Identity, Flatten, Unflatten, Dropout, BatchNorm1d/2d,
LayerNorm."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .. import functional as F
from .. import ops
from ..creation import as_tensor
from ..tensor import Tensor, apply
from . import init
from .module import Module, Parameter, _size


def _input(x):
    return x if isinstance(x, Tensor) else as_tensor(x)


class Linear(Module):
    """A fully connected layer, ``y = x @ weight.T + bias``, one fused op.

    Parameters
    ----------
    in_features, out_features : int
        Sizes of the last axis of the input and of the output.
    bias : bool, default True
        Learn an additive bias.
    dtype : dtype, default float32

    Attributes
    ----------
    weight : Parameter of shape (out_features, in_features)
    bias : Parameter of shape (out_features,) or None

    Notes
    -----
    Shapes: input (..., in_features), output (..., out_features). ``weight`` and
    ``bias`` start from U(-1/sqrt(in_features), 1/sqrt(in_features)), PyTorch's
    default. The backward pass is one matrix product per gradient.

    Examples
    --------
    >>> layer = cr.nn.Linear(3, 2)
    >>> layer(cr.ones((4, 3))).shape
    (4, 2)
    >>> layer.weight.shape, layer.bias.shape
    ((2, 3), (2,))
    """

    def __init__(self, in_features, out_features, bias=True, dtype="float32"):
        super().__init__()
        for name, v in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"Linear: {name} must be a positive integer, got {v!r}")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        # NOTE: Fortran order: weight.T is then a C-ordered (in, out) array and x @ weight.T
        # one plain GEMM (about 1.5x faster than a transposed operand at batch 32).
        self.weight = Parameter(np.empty((out_features, in_features), dtype=dtype, order="F"))
        self.bias = Parameter(np.empty(out_features, dtype=dtype)) if bias else None
        self.reset_parameters()

    @classmethod
    def _parameter_count(cls, in_features, out_features, bias=True, dtype="float32"):
        """Elements the constructor allocates (see :meth:`Module._parameter_count`)."""
        n_in, n_out = _size(in_features, "in_features", cls.__name__), \
            _size(out_features, "out_features", cls.__name__)
        return n_in * n_out + (n_out if bias else 0)

    def reset_parameters(self):
        """Draw ``weight`` and ``bias`` again from their initial distribution."""
        # NOTE: kaiming_uniform with a=sqrt(5) is U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features)
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        return apply(ops.linalg.linear, _input(x), self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


# The hook through which a container runs its children: the planner turns the tuple of
# children into the callables applied in turn (fused steps where a rule matches).
# chainrule.compiler.fusion owns the rules and registers its planner when the package
# loads; nn names no fusion. Without a planner a container applies each child.
ChainPlanner = Callable[[tuple[Module, ...]], tuple[Callable[[Tensor], Tensor], ...]]
_chain_planner: ChainPlanner | None = None


def register_chain_planner(planner: ChainPlanner | None) -> None:
    """Make every container run its children through ``planner`` (None: one by one).

    Parameters
    ----------
    planner : callable or None
        ``planner(children) -> steps``: the callables that, applied in turn, compute what
        applying the children in turn computes.
    """
    global _chain_planner
    _chain_planner = planner


def chain_steps(container: Module) -> tuple[Callable[[Tensor], Tensor], ...]:
    """The steps that run ``container``'s children, planned once per set of children.

    The plan is kept on the container with the children and the planner it was made for,
    so replacing a child or registering another planner plans again.
    """
    children = tuple(container._modules.values())
    kept = container.__dict__.get("_chain")
    if kept is not None and kept[1] is _chain_planner and kept[0] == children:
        return kept[2]
    steps = children if _chain_planner is None else _chain_planner(children)
    object.__setattr__(container, "_chain", (children, _chain_planner, steps))
    return steps


class Sequential(Module):
    """Modules applied one after the other, each to the previous one's output.

    Parameters
    ----------
    *modules : Module
        Registered as children ``'0'``, ``'1'``...; indexable, iterable, ``len()``.

    Examples
    --------
    >>> model = cr.nn.Sequential(cr.nn.Linear(2, 8), cr.nn.ReLU(), cr.nn.Linear(8, 1))
    >>> model(cr.ones((5, 2))).shape
    (5, 1)
    >>> len(model), type(model[1]).__name__
    (3, 'ReLU')
    """

    def __init__(self, *modules):
        super().__init__()
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: argument {i} is a {type(m).__name__}, not a Module")
            setattr(self, str(i), m)

    def forward(self, x):
        # each child in turn; adjacent children that a fusion rule joins run as one op
        # (chainrule.compiler.fusion: Linear then ReLU is one linear_relu)
        for step in chain_steps(self):
            x = step(x)
        return x

    def __getitem__(self, i):
        mods = list(self._modules.values())
        if isinstance(i, slice):
            return Sequential(*mods[i])
        return mods[i]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        """Add a module at the end; returns self."""
        if not isinstance(module, Module):
            raise TypeError(f"Sequential.append: got a {type(module).__name__}, not a Module")
        setattr(self, str(len(self._modules)), module)
        self._init_args = (tuple(self._modules.values()), {})
        return self


class Residual(Module):
    """``x + block(x)``: the skip connection of a residual network.

    The input feeds two paths, so backpropagation adds the gradient through the
    block to the gradient of the identity path: ``dL/dx = dL/dy + J_block^T dL/dy``.

    Parameters
    ----------
    block : Module
        Must map its input to an output of the same shape.

    Examples
    --------
    >>> res = cr.nn.Residual(cr.nn.Sequential(cr.nn.Linear(4, 4), cr.nn.Tanh()))
    >>> res(cr.ones((2, 4))).shape
    (2, 4)
    """

    def __init__(self, block):
        super().__init__()
        if not isinstance(block, Module):
            raise TypeError(f"Residual: block must be a Module, got {type(block).__name__}")
        self.block = block

    def forward(self, x):
        x = _input(x)
        return x + self.block(x)


class Identity(Module):
    """Returns its input unchanged (arguments are accepted and ignored).

    Examples
    --------
    >>> cr.nn.Identity()(cr.tensor([1.0, 2.0]))
    tensor([1., 2.])
    """

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return _input(x)


class Flatten(Module):
    """Flatten axes ``start_dim..end_dim`` into one (by default all but the batch axis).

    Parameters
    ----------
    start_dim : int, default 1
    end_dim : int, default -1

    Examples
    --------
    >>> cr.nn.Flatten()(cr.ones((2, 3, 4))).shape
    (2, 12)
    """

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, x):
        x = _input(x)
        shape = x.shape
        end = self.end_dim % len(shape)
        new = shape[:self.start_dim] + (-1,) + shape[end + 1:]
        return x.reshape(new)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Splits axis ``dim`` into ``unflattened_size``: ``Unflatten(1, (1, 8, 8))`` turns rows
    of 64 features into 1x8x8 images (the inverse of :class:`Flatten`)."""

    def __init__(self, dim, unflattened_size):
        super().__init__()
        self.dim = int(dim)
        self.unflattened_size = tuple(int(v) for v in unflattened_size)
        if not self.unflattened_size or min(self.unflattened_size) < 1:
            raise ValueError(f"Unflatten: unflattened_size must be positive ints, got "
                             f"{unflattened_size!r}")

    def forward(self, x):
        x = _input(x)
        d = self.dim % x.ndim
        if x.shape[d] != math.prod(self.unflattened_size):
            raise ValueError(f"Unflatten: axis {d} of the input has {x.shape[d]} values, but "
                             f"{self.unflattened_size} holds {math.prod(self.unflattened_size)}")
        return x.reshape(x.shape[:d] + self.unflattened_size + x.shape[d + 1:])

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


class Dropout(Module):
    """Inverted dropout: zero each element with probability ``p`` while training.

    The kept elements are scaled by ``1 / (1 - p)`` so that the expected output equals
    the input; in evaluation mode (``model.eval()``) the layer is the identity. The mask
    is drawn from chainrule's seeded generator (:func:`chainrule.manual_seed`).

    Parameters
    ----------
    p : float, default 0.5
        Drop probability, in [0, 1).

    Examples
    --------
    >>> drop = cr.nn.Dropout(0.5).eval()
    >>> drop(cr.ones(4))
    tensor([1., 1., 1., 1.])
    """

    def __init__(self, p=0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


class BatchNorm1d(Module):
    """Batch normalisation of (N, C) or (N, C, L) inputs (Ioffe & Szegedy).

    Each channel is normalised to zero mean and unit variance, then scaled by
    ``weight`` and shifted by ``bias``. Training uses the batch's mean and (biased)
    variance and updates the running estimates; evaluation uses the running estimates.

    Parameters
    ----------
    num_features : int
        C, the number of channels.
    eps : float, default 1e-5
        Added to the variance before the square root.
    momentum : float, default 0.1
        ``running = (1 - momentum) * running + momentum * batch_statistic``.
    affine : bool, default True
        Learn ``weight`` (ones) and ``bias`` (zeros) of shape (C,).
    track_running_stats : bool, default True
        Keep ``running_mean`` and ``running_var`` buffers (saved in ``state_dict``).
    dtype : dtype, default float32

    Examples
    --------
    >>> bn = cr.nn.BatchNorm1d(3)
    >>> y = bn(cr.randn(16, 3))
    >>> np.allclose(y.numpy().mean(0), 0, atol=1e-5)
    True
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, dtype="float32"):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        self.weight = Parameter(np.ones(num_features, dtype=dtype)) if affine else None
        self.bias = Parameter(np.zeros(num_features, dtype=dtype)) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", np.ones(num_features, dtype=dtype))
        else:
            self.running_mean = self.running_var = None

    @classmethod
    def _parameter_count(cls, num_features, eps=1e-5, momentum=0.1, affine=True,
                         track_running_stats=True, dtype="float32"):
        """Elements the constructor allocates (see :meth:`Module._parameter_count`)."""
        n = _size(num_features, "num_features", cls.__name__, minimum=0)
        return n * (2 * bool(affine) + 2 * bool(track_running_stats))

    def forward(self, x):
        x = _input(x)
        if x.ndim not in (2, 3) or x.shape[1] != self.num_features:
            raise ValueError(f"BatchNorm1d: expected input of shape (N, {self.num_features}) "
                             f"or (N, {self.num_features}, L), got {x.shape}")
        use_batch = self.training or not self.track_running_stats
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            training=use_batch, momentum=self.momentum, eps=self.eps)

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class BatchNorm2d(BatchNorm1d):
    """Batch normalisation of (N, C, H, W) inputs over N, H and W for each channel.

    Training normalises with the batch's statistics and updates the running
    estimates (momentum 0.1, unbiased variance, as PyTorch); evaluation uses
    the running estimates. Arguments as :class:`BatchNorm1d`.
    """

    def forward(self, x):
        x = _input(x)
        if x.ndim != 4 or x.shape[1] != self.num_features:
            raise ValueError(f"BatchNorm2d: expected input of shape (N, {self.num_features}, H, "
                             f"W), got {x.shape}")
        use_batch = self.training or not self.track_running_stats
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            training=use_batch, momentum=self.momentum, eps=self.eps)


class LayerNorm(Module):
    """Normalise each sample over its trailing ``normalized_shape`` axes (Ba et al.).

    Parameters
    ----------
    normalized_shape : int or tuple of int
        The trailing axes normalised together.
    eps : float, default 1e-5
    elementwise_affine : bool, default True
        Learn ``weight`` (ones) and ``bias`` (zeros) of shape ``normalized_shape``.
    dtype : dtype, default float32

    Examples
    --------
    >>> ln = cr.nn.LayerNorm(4)
    >>> y = ln(cr.randn(2, 4))
    >>> np.allclose(y.numpy().std(1), 1, atol=1e-3)
    True
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, dtype="float32"):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype=dtype))
            self.bias = Parameter(np.zeros(self.normalized_shape, dtype=dtype))
        else:
            self.weight = self.bias = None

    @classmethod
    def _parameter_count(cls, normalized_shape, eps=1e-5, elementwise_affine=True,
                         dtype="float32"):
        """Elements the constructor allocates (see :meth:`Module._parameter_count`)."""
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        shape = [_size(v, "normalized_shape", cls.__name__, minimum=0)
                 for v in tuple(normalized_shape)]
        return 2 * math.prod(shape) if elementwise_affine else 0

    def forward(self, x):
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}"
