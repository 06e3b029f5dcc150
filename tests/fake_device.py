"""A stand-in accelerator for the CPU: NumPy underneath, a distinct array type on top.

``FakeArray`` wraps an ndarray and behaves as a CuPy array does where it matters
for chainrule: arithmetic, indexing, reductions and the array module's functions
work on it (through :data:`fake`, the module ``array_module`` returns for it),
``.get()`` copies it to the host, and every implicit exchange with NumPy is
refused. A stray ``np.exp(x)``, ``np.asarray(x)`` or ``x + host_array`` inside
chainrule therefore raises ``TypeError`` in the test suite, on a machine with no
GPU, exactly where CuPy would fail (or silently copy) on a real one.

Register it with :func:`install`; tests then use ``cr.device("fake")``.
"""

from __future__ import annotations

import operator
import types

import numpy as np


class DeviceMixError(TypeError):
    pass


def _refuse(what):
    raise DeviceMixError(
        f"fake device: {what}: a NumPy (host) array met a device array; move it with "
        "Tensor.to(device) first")


def _unwrap(x, allow_host=False):
    if type(x) is FakeArray:
        return x._a
    if isinstance(x, np.ndarray):
        if allow_host:
            return x
        _refuse("operand")
    if isinstance(x, (list, tuple)):
        return type(x)(_unwrap(v, allow_host) for v in x)
    return x


def _wrap(x, like=()):
    if isinstance(x, np.ndarray):
        for a in like:  # the call returned one of its own operands (out=, in place)
            if type(a) is FakeArray and a._a is x:
                return a
        return FakeArray(x)
    if isinstance(x, np.generic) and not isinstance(x, (np.str_, np.bytes_)):
        return FakeArray(np.asarray(x))  # CuPy reduces to 0-d arrays, not scalars
    if isinstance(x, tuple):
        return tuple(_wrap(v, like) for v in x)
    if isinstance(x, list):
        return [_wrap(v, like) for v in x]
    return x


def _QUIET():
    return np.errstate(all="ignore")


# NumPy names that CuPy does not have: using them on a device array is a bug there.
_MISSING_IN_CUPY = {"errstate", "seterr", "geterr"}
# Functions that copy host data onto the device: they take NumPy arrays.
_TRANSFER = {"asarray", "array", "asanyarray", "ascontiguousarray", "asfortranarray"}


def _call(fn, args, kwargs, allow_host=False):
    a = [_unwrap(v, allow_host) for v in args]
    k = {n: _unwrap(v, allow_host) for n, v in kwargs.items()}
    with _QUIET():  # CuPy never warns about floating-point errors
        out = fn(*a, **k)
    return _wrap(out, list(args) + list(kwargs.values()))


class _Function:
    __slots__ = ("_fn", "_host", "__name__")

    def __init__(self, fn, name, host=False):
        self._fn, self._host, self.__name__ = fn, host, name

    def __call__(self, *args, **kwargs):
        return _call(self._fn, args, kwargs, self._host)

    def __getattr__(self, name):  # ufunc methods: reduce, at, outer, accumulate
        attr = getattr(self._fn, name)
        if callable(attr):
            return _Function(attr, f"{self.__name__}.{name}")
        return attr


class FakeModule(types.ModuleType):
    """NumPy's namespace with every function taking and returning :class:`FakeArray`."""

    def __init__(self, module):
        super().__init__(f"fake.{module.__name__}")
        self._module = module

    def __getattr__(self, name):
        if name == "ndarray" and self._module is np:
            return FakeArray  # isinstance(x, xp.ndarray) as with CuPy
        if name in _MISSING_IN_CUPY and self._module is np:
            raise AttributeError(f"module 'cupy' has no attribute {name!r} (fake device)")
        attr = getattr(self._module, name)
        if isinstance(attr, types.ModuleType):
            wrapped = FakeModule(attr)
        elif isinstance(attr, type) or not callable(attr):
            wrapped = attr  # dtypes, constants, exception classes
        else:
            wrapped = _Function(attr, name, host=name in _TRANSFER)
        setattr(self, name, wrapped)
        return wrapped


class _Flags:
    """CuPy's flags: no ``writeable`` (its arrays are never read-only)."""

    def __init__(self, a):
        self.c_contiguous = a.flags.c_contiguous
        self.f_contiguous = a.flags.f_contiguous
        self.owndata = a.flags.owndata


def _binary(op, reflected=False):
    def method(self, other):
        if isinstance(other, np.ndarray):
            _refuse(op.__name__)
        if type(other) is FakeArray:
            other = other._a
        elif not isinstance(other, (int, float, complex, bool, np.generic)):
            return NotImplemented
        with _QUIET():
            return _wrap(op(other, self._a) if reflected else op(self._a, other))

    return method


def _inplace(op):
    def method(self, other):
        if isinstance(other, np.ndarray):
            _refuse(op.__name__)
        with _QUIET():
            self._a = op(self._a, _unwrap(other))
        return self

    return method


class FakeArray:
    """A device array backed by NumPy memory (see the module docstring)."""

    __slots__ = ("_a", "__weakref__")
    __array_ufunc__ = None  # numpy ufuncs refuse it (ndarray's operators return NotImplemented)

    def __init__(self, a):
        self._a = a

    def __array__(self, dtype=None, copy=None):
        raise DeviceMixError("fake device: implicit conversion to a NumPy array is not "
                             "allowed; use .get() (CuPy refuses it too)")

    def __array_function__(self, func, types, args, kwargs):
        return NotImplemented  # np.<function>(device array) raises TypeError

    # ------------------------------------------------------------ attributes
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    strides = property(lambda self: self._a.strides)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    T = property(lambda self: FakeArray(self._a.T))
    flags = property(lambda self: _Flags(self._a))
    base = property(lambda self: None if self._a.base is None else FakeArray(self._a.base))
    device = property(lambda self: "fake")

    def get(self):
        """A host (NumPy) copy, as ``cupy.ndarray.get``."""
        return self._a.copy()

    def __getattr__(self, name):
        if name.startswith("_"):  # __array_interface__ and kin would let NumPy read it
            raise AttributeError(name)
        attr = getattr(self._a, name)
        if callable(attr):
            return _Function(attr, name)
        return _wrap(attr)

    def __repr__(self):
        return f"fake_array({self._a!r})"

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (_wrap(v) for v in self._a)

    def __bool__(self):
        return bool(self._a)

    def __float__(self):
        return float(self._a)

    def __int__(self):
        return int(self._a)

    def __index__(self):
        return operator.index(self._a)

    def __getitem__(self, index):
        return _wrap(self._a[_unwrap(index, allow_host=True)])

    def __setitem__(self, index, value):
        self._a[_unwrap(index, allow_host=True)] = _unwrap(value, allow_host=True)

    def __neg__(self):
        return FakeArray(-self._a)

    def __pos__(self):
        return self

    def __abs__(self):
        return FakeArray(abs(self._a))

    def __invert__(self):
        return FakeArray(~self._a)

    __hash__ = None

    __add__, __radd__ = _binary(operator.add), _binary(operator.add, True)
    __sub__, __rsub__ = _binary(operator.sub), _binary(operator.sub, True)
    __mul__, __rmul__ = _binary(operator.mul), _binary(operator.mul, True)
    __truediv__, __rtruediv__ = _binary(operator.truediv), _binary(operator.truediv, True)
    __floordiv__, __rfloordiv__ = _binary(operator.floordiv), _binary(operator.floordiv, True)
    __mod__, __rmod__ = _binary(operator.mod), _binary(operator.mod, True)
    __pow__, __rpow__ = _binary(operator.pow), _binary(operator.pow, True)
    __matmul__, __rmatmul__ = _binary(operator.matmul), _binary(operator.matmul, True)
    __and__, __rand__ = _binary(operator.and_), _binary(operator.and_, True)
    __or__, __ror__ = _binary(operator.or_), _binary(operator.or_, True)
    __xor__, __rxor__ = _binary(operator.xor), _binary(operator.xor, True)
    __lt__, __le__ = _binary(operator.lt), _binary(operator.le)
    __gt__, __ge__ = _binary(operator.gt), _binary(operator.ge)
    __eq__, __ne__ = _binary(operator.eq), _binary(operator.ne)
    __iadd__, __isub__ = _inplace(operator.iadd), _inplace(operator.isub)
    __imul__, __itruediv__ = _inplace(operator.imul), _inplace(operator.itruediv)
    __ipow__ = _inplace(operator.ipow)


#: The array module of the fake device (``array_module`` returns it for a FakeArray).
fake = FakeModule(np)


def install():
    """Register the fake device type with chainrule (idempotent); returns its Backend."""
    from chainrule import backend

    if "fake" not in backend.BACKENDS:
        backend.register_backend(backend.Backend(
            "fake", fake, FakeArray,
            to_host=lambda a: a._a.copy(),
            from_host=lambda a, index: FakeArray(np.array(a, copy=True)),
            index_of=lambda a: 0,
            device_count=lambda: 1))
    return backend.BACKENDS["fake"]
