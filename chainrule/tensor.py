"""Tensor and its operators (creation helpers such as ``tensor`` and ``zeros``: creation.py;
the differentiable methods such as ``sum`` and ``reshape``: functional.py's functions,
installed on Tensor from the table in tensor_methods.py).

A Tensor wraps an ndarray. When an op runs on tensors of which one requires a
gradient (and grad mode is on), the result remembers its inputs and the op's
backward closure. ``backward()`` then applies the chain rule from the output
back to the leaves, in reverse topological order, summing the contributions
of every path through which a tensor was used; the graph walk, ``apply`` and
the grad mode live in :mod:`chainrule.autograd`.
"""

from __future__ import annotations

import numbers

import numpy as np

from . import autograd, ops
from .autograd import apply, enable_grad, is_grad_enabled, no_grad, run_backward
from .backend import DEFAULT_FLOAT, array_module, is_device_array, is_float
from .device import device as as_device
from .device import device_of, is_device_spec, to_device, to_host

__all__ = ["Tensor", "apply", "no_grad", "enable_grad", "is_grad_enabled",
           "as_array", "axis_arg", "operand", "promote"]


class Tensor:
    """An n-dimensional array that can record the ops applied to it.

    Build one with ``cr.tensor`` (or ``cr.zeros``, ``cr.randn``...: see
    :mod:`chainrule.creation`). When an op runs on tensors of which one requires a
    gradient, its result remembers its inputs and how to differentiate the op;
    :meth:`backward` then applies the chain rule from that result back to every tensor
    that requires a gradient. The methods that apply one differentiable op (``sum``,
    ``exp``, ``softmax``, ``reshape``...) are the :mod:`chainrule.functional` functions
    of the same names, with the tensor as their first argument (``x.sum(axis=1)`` is
    ``F.sum(x, axis=1)``; the table is in :mod:`chainrule.tensor_methods`).

    Attributes
    ----------
    data : ndarray
        The values (a NumPy array, or a CuPy array on a GPU).
    grad : ndarray or None
        The gradient accumulated by :meth:`backward`, of the shape of ``data``;
        ``None`` until a backward pass reaches this tensor. Kept on leaves only.
    requires_grad : bool
        Whether ops on this tensor are recorded for backpropagation.

    Examples
    --------
    >>> x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> y = (x ** 2).sum()
    >>> y.backward()
    >>> x.grad
    array([2., 4., 6.], dtype=float32)
    >>> x.shape, x.dtype, y.is_leaf
    ((3,), dtype('float32'), False)
    """

    __slots__ = ("data", "grad", "requires_grad", "_parents", "_backward", "_needs", "_seq",
                 "__weakref__")
    __array_priority__ = 1000  # ndarray (op) Tensor defers to Tensor's reflected operator

    def __init__(self, data, requires_grad=False):
        self.data = data
        self.grad = None
        self.requires_grad = requires_grad
        self._parents = ()
        self._backward = None
        self._needs = ()
        self._seq = 0

    # ----------------------------------------------------------------- properties
    @property
    def shape(self):
        """The shape of ``data``, a tuple of ints."""
        return self.data.shape

    @property
    def dtype(self):
        """The NumPy dtype of ``data``."""
        return self.data.dtype

    @property
    def ndim(self):
        """The number of axes."""
        return self.data.ndim

    @property
    def size(self):
        """The number of elements."""
        return self.data.size

    @property
    def T(self):
        """The transpose (axes reversed), differentiable."""
        return self.transpose()

    @property
    def is_leaf(self):
        """True when no recorded op produced this tensor (an input or a parameter)."""
        return self._backward is None

    def numel(self):
        """The number of elements (PyTorch's name for :attr:`size`)."""
        return self.data.size

    def __len__(self):
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __repr__(self):
        body = np.array2string(np.asarray(self.numpy()), separator=", ", prefix="tensor(")
        extra = ""
        if self.dtype != DEFAULT_FLOAT:
            extra += f", dtype={self.dtype}"
        if self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    __hash__ = object.__hash__

    def __array__(self, dtype=None, copy=None):
        a = self.numpy()
        return a if dtype is None else a.astype(dtype, copy=False)

    def __bool__(self):
        if self.data.size != 1:
            raise ValueError(f"the truth value of a tensor of shape {self.shape} is ambiguous")
        return bool(self.data)

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __iter__(self):
        if self.data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.data.shape[0]))

    # ------------------------------------------------------------- conversion
    def numpy(self):
        """The data as a NumPy array (copied to the host if it lives on a GPU)."""
        d = self.data
        return d if isinstance(d, np.ndarray) else to_host(d)

    @property
    def device(self):
        """The :class:`~chainrule.device.Device` holding the data (``cpu`` or ``cuda:N``)."""
        return device_of(self.data)

    def to(self, *args, device=None, dtype=None):
        """This tensor on another device and/or in another dtype (``self`` when nothing changes).

        ``x.to("cuda")``, ``x.to(np.float64)``, ``x.to("cuda", np.float64)`` as in
        PyTorch. The move is differentiable: the gradient flows back to the source
        device.

        Parameters
        ----------
        *args : str, Device or dtype
            A device, a dtype, or both (device first).
        device : str or Device, optional
        dtype : dtype, optional

        Examples
        --------
        >>> x = cr.tensor([1.0, 2.0])
        >>> x.to("cpu") is x
        True
        """
        for a in args:
            if is_device_spec(a):
                device = a
            else:
                dtype = a
        out = self
        if dtype is not None and np.dtype(dtype) != self.dtype:
            out = out.astype(dtype)
        if device is None:
            return out
        dst = as_device(device)
        src = device_of(out.data)
        if dst == src:
            return out

        def op(a):
            def backward(g, needs):
                return (to_device(g, src),)

            return to_device(a, dst), backward

        op.__name__ = "to"
        return apply(op, out)

    def cpu(self):
        """``to("cpu")``."""
        return self.to(device="cpu")

    def cuda(self, index=0):
        """``to(f"cuda:{index}")``."""
        return self.to(device=f"cuda:{index}")

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item(): only one-element tensors can be converted, "
                             f"this one has shape {self.shape}")
        return self.data.reshape(()).item()

    def tolist(self):
        """The data as nested Python lists."""
        return self.numpy().tolist()

    def detach(self):
        """A tensor sharing this one's data, cut from the graph."""
        return Tensor(self.data)

    def astype(self, dtype):
        """A copy converted to ``dtype`` (differentiable between float types)."""
        dtype = np.dtype(dtype)
        src = self.data.dtype

        def op(a):
            def backward(g, needs):
                return (g.astype(src),)

            return a.astype(dtype), backward

        if not is_float(dtype):
            return Tensor(self.data.astype(dtype))
        return apply(op, self)

    def float(self):
        """A float32 copy (differentiable between float types)."""
        return self.astype(np.float32)

    def double(self):
        """A float64 copy (differentiable between float types)."""
        return self.astype(np.float64)

    def requires_grad_(self, requires_grad=True):
        """Set ``requires_grad`` in place (float tensors only) and return self."""
        if requires_grad and not is_float(self.dtype):
            raise ValueError(f"only floating-point tensors can require gradients, "
                             f"this one has dtype {self.dtype}")
        self.requires_grad = requires_grad
        return self

    def zero_grad(self):
        """Forget the accumulated gradient (``grad`` becomes None)."""
        self.grad = None

    # ------------------------------------------------------------- backward
    def backward(self, grad=None, retain_graph=False):
        """Backpropagate: accumulate d(self)/d(leaf) into every leaf's ``.grad``.

        Parameters
        ----------
        grad : array_like, optional
            The gradient of some scalar with respect to this tensor; required
            unless the tensor holds a single element (then it is 1).
        retain_graph : bool, default False
            Keep the graph so that backward can run through it again.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward: this tensor does not require grad: no input had "
                "requires_grad=True, or it was computed under no_grad()"
            )
        xp = array_module(self.data)
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward: grad can be omitted only for a one-element output; this "
                    f"tensor has shape {self.shape}, so pass grad= of that shape"
                )
            seed = xp.ones(self.shape, dtype=self.dtype)
        else:
            seed = grad.data if isinstance(grad, Tensor) else grad
            seed = xp.array(seed, dtype=self.dtype, copy=True)
            if seed.shape != self.shape:
                raise ValueError(f"backward: grad has shape {seed.shape} but the tensor has "
                                 f"shape {self.shape}")
        run_backward(self, seed, retain_graph)

    # ------------------------------------------------------------- operators
    def __add__(self, other):
        return _arithmetic(ops.arithmetic.add, self, other)

    def __radd__(self, other):
        return _arithmetic(ops.arithmetic.add, self, other, reflected=True)

    def __sub__(self, other):
        return _arithmetic(ops.arithmetic.sub, self, other)

    def __rsub__(self, other):
        return _arithmetic(ops.arithmetic.sub, self, other, reflected=True)

    def __mul__(self, other):
        return _arithmetic(ops.arithmetic.mul, self, other)

    def __rmul__(self, other):
        return _arithmetic(ops.arithmetic.mul, self, other, reflected=True)

    def __truediv__(self, other):
        return _arithmetic(ops.arithmetic.div, self, other, division=True)

    def __rtruediv__(self, other):
        return _arithmetic(ops.arithmetic.div, self, other, reflected=True, division=True)

    def __pow__(self, other):
        return _arithmetic(ops.arithmetic.pow, self, other)

    def __rpow__(self, other):
        return _arithmetic(ops.arithmetic.pow, self, other, reflected=True)

    def __matmul__(self, other):
        return apply(ops.linalg.matmul, self, operand(other, self))

    def __rmatmul__(self, other):
        return apply(ops.linalg.matmul, operand(other, self), self)

    def __neg__(self):
        return apply(ops.arithmetic.neg, self)

    def __pos__(self):
        return self

    def __abs__(self):
        return self.abs()

    def __getitem__(self, index):
        if not (self.requires_grad and autograd._grad_enabled):  # no graph: plain indexing
            out = self.data[_index(index, self.data)]
            return Tensor(np.asarray(out) if isinstance(out, np.generic) else out)
        return apply(ops.shape.getitem, self, index=_index(index, self.data))

    # ------------------------------------------------------------- not differentiable
    # comparisons give boolean tensors, argmax and argmin integer ones
    def _compare(self, other, name):
        other = other.data if isinstance(other, Tensor) else other
        return Tensor(getattr(array_module(self.data, other), name)(self.data, other))

    def __lt__(self, other):
        return self._compare(other, "less")

    def __le__(self, other):
        return self._compare(other, "less_equal")

    def __gt__(self, other):
        return self._compare(other, "greater")

    def __ge__(self, other):
        return self._compare(other, "greater_equal")

    def __eq__(self, other):
        return self._compare(other, "equal")

    def __ne__(self, other):
        return self._compare(other, "not_equal")

    def argmax(self, axis=None, keepdims=False):
        """Indices of the maxima over ``axis`` (an integer tensor, not differentiable)."""
        return Tensor(self.data.argmax(axis=axis, keepdims=keepdims))

    def argmin(self, axis=None, keepdims=False):
        """Indices of the minima over ``axis`` (an integer tensor, not differentiable)."""
        return Tensor(self.data.argmin(axis=axis, keepdims=keepdims))


autograd.register_tensor_type(Tensor)  # apply wraps its results in Tensors


# ------------------------------------------------------------------ arguments
def axis_arg(axis, dim=None):
    """The axis argument (a list becomes a tuple); PyTorch's name ``dim`` overrides it."""
    if dim is not None:
        axis = dim
    return tuple(axis) if isinstance(axis, list) else axis


def _index(index, data):
    """Tensors inside an index become arrays; index arrays go to ``data``'s device."""
    if index.__class__ is slice:  # x[a:b], the minibatch of a training loop
        return index
    if isinstance(index, tuple):
        return tuple(_index(i, data) for i in index)
    if isinstance(index, Tensor):
        index = index.data
    elif isinstance(index, list):
        index = np.asarray(index)
    if isinstance(index, np.ndarray) and not isinstance(data, np.ndarray):
        index = array_module(data).asarray(index)
    return index


def _arithmetic(op, t, other, reflected=False, division=False):
    """``op(t, other)`` (``op(other, t)`` when ``reflected``), promoted by :func:`promote`."""
    t, o = promote(t, operand(other, t), division)
    return apply(op, o, t) if reflected else apply(op, t, o)


def promote(a, b, division=False):
    """Two tensors brought to a common float dtype as PyTorch does, where NumPy differs.

    Floats meeting floats follow NumPy (float32 with float64 gives float64). Where
    NumPy 2 would turn an integer or bool operand into float64, PyTorch keeps the
    float: an integer tensor meeting a float tensor takes that tensor's dtype (a
    Python float arrives from :func:`operand` as float32), and integers divided
    (``division``) give float32. The integer side is a constant (integer tensors
    never require a gradient).
    """
    ka, kb = a.data.dtype.kind, b.data.dtype.kind
    if ka == "f" and kb == "f":
        return a, b
    if ka == "f" and kb in "biu":
        return a, Tensor(b.data.astype(a.data.dtype))
    if kb == "f" and ka in "biu":
        return Tensor(a.data.astype(b.data.dtype)), b
    if division and ka in "biu" and kb in "biu":
        return Tensor(a.data.astype(DEFAULT_FLOAT)), Tensor(b.data.astype(DEFAULT_FLOAT))
    return a, b


def operand(x, like):
    """Wrap a non-Tensor operand as a constant; Python scalars take ``like``'s float dtype."""
    if isinstance(x, Tensor):
        return x
    xp = array_module(like.data)
    if isinstance(x, numbers.Number):
        if is_float(like.data.dtype):
            return Tensor(xp.asarray(x, dtype=like.data.dtype))
        if isinstance(x, numbers.Real) and not isinstance(x, numbers.Integral):
            return Tensor(xp.asarray(x, dtype=DEFAULT_FLOAT))
        return Tensor(xp.asarray(x))
    return Tensor(as_array(x, None, xp))


def as_array(data, dtype, xp=np):
    """``data`` as a numeric array (Python floats become float32, see :func:`tensor`)."""
    if isinstance(data, Tensor):
        data = data.data
    keep_float64 = isinstance(data, np.ndarray) or is_device_array(data)
    if dtype is None:
        try:
            arr = xp.asarray(data)
        except (ValueError, TypeError) as e:
            raise TypeError(f"tensor(): cannot convert {type(data).__name__} to a numeric "
                            f"array ({e})") from None
        kind = arr.dtype.kind
        if kind not in "biuf":
            raise TypeError(f"tensor(): data must be numeric (bool, int or float), got an "
                            f"array of dtype {arr.dtype}")
        if kind == "f" and not (keep_float64 and arr.dtype != np.float16):
            arr = arr.astype(DEFAULT_FLOAT, copy=False)
        return arr
    dtype = np.dtype(dtype)
    if dtype.kind not in "biuf":
        raise TypeError(f"tensor(): dtype must be numeric, got {dtype}")
    try:
        return xp.asarray(data, dtype=dtype)
    except (ValueError, TypeError) as e:
        raise TypeError(f"tensor(): cannot convert {type(data).__name__} to {dtype} "
                        f"({e})") from None
