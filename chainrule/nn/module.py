"""Module and Parameter: the containers that hold a network's weights."""

from __future__ import annotations

import numbers
from collections import OrderedDict

import numpy as np

from ..backend import array_module, is_float
from ..device import place
from ..tensor import Tensor

#: The layers a model file may name: chainrule's own classes only (see chainrule.io).
LAYER_REGISTRY: dict[str, type] = {}


class Parameter(Tensor):
    """A tensor that is a trainable weight of a :class:`Module` (requires grad)."""

    __slots__ = ()

    def __init__(self, data, requires_grad=True):
        arr = data.data if isinstance(data, Tensor) else data
        if not hasattr(arr, "dtype"):
            arr = np.asarray(arr, dtype=np.float32)
        if not is_float(arr.dtype):
            raise ValueError(f"Parameter: weights must be floating point, got dtype {arr.dtype}")
        super().__init__(place(arr), requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


def _size(value, name, owner, minimum=1) -> int:
    """``value`` as an int >= ``minimum`` (a size read by ``_parameter_count``), else ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{owner}: {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


class Module:
    """Base class of layers and networks.

    Assigning a :class:`Parameter` or a Module to an attribute registers it, so
    ``parameters()``, ``state_dict()``, ``train()``/``eval()`` reach it. The
    constructor arguments are recorded, which lets :func:`chainrule.save`
    describe the architecture without pickling code.

    Examples
    --------
    >>> class TwoLayer(cr.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.hidden = cr.nn.Linear(4, 8)
    ...         self.out = cr.nn.Linear(8, 1)
    ...     def forward(self, x):
    ...         return self.out(self.hidden(x).relu())
    """

    def __new__(cls, *args, **kwargs):
        self = super().__new__(cls)
        object.__setattr__(self, "_init_args", (args, kwargs))
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "training", True)
        return self

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__module__.startswith("chainrule."):
            LAYER_REGISTRY[cls.__name__] = cls

    def __init__(self):
        pass

    @classmethod
    def _parameter_count(cls, *args, **kwargs) -> int:
        """The array elements (parameters and ``state_dict`` buffers) that the constructor
        allocates itself for these arguments, counted before building (model files read it
        to refuse a description larger than the weights they hold).

        Takes the constructor's arguments. The base class returns 0: a layer with no
        weights of its own. A layer that allocates overrides it, counting the sublayers it
        builds internally but not the modules passed to it as arguments (those are built
        and counted on their own). Sizes the constructor would refuse raise ``ValueError``.
        """
        return 0

    def __setattr__(self, name, value):
        params, modules = self.__dict__["_parameters"], self.__dict__["_modules"]
        params.pop(name, None)
        modules.pop(name, None)
        if isinstance(value, Parameter):
            params[name] = value
        elif isinstance(value, Module):
            modules[name] = value
        elif name in self._buffers:
            self._buffers[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        self._buffers.pop(name, None)
        object.__delattr__(self, name)

    def register_buffer(self, name, array):
        """Register a non-trainable array (e.g. running statistics) saved in ``state_dict``."""
        array = None if array is None else place(array)
        self._buffers[name] = array
        object.__setattr__(self, name, array)

    # ------------------------------------------------------------------ calling
    def forward(self, *args, **kwargs):
        """The computation of the module; subclasses define it, and calling the module runs it.

        Parameters
        ----------
        *args, **kwargs
            The inputs (usually one Tensor or array of shape (batch, ...)).

        Returns
        -------
        Tensor
        """
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ------------------------------------------------------------------ traversal
    def named_children(self):
        """(attribute name, Module) pairs of the direct submodules, in assignment order."""
        return iter(self._modules.items())

    def children(self):
        """The direct submodules, in assignment order."""
        return iter(self._modules.values())

    def named_modules(self, prefix=""):
        """Every module in the tree, depth first, with dotted names ('' for self)."""
        stack = [(prefix, self)]
        seen = set()
        while stack:
            name, m = stack.pop()
            if id(m) in seen:
                continue
            seen.add(id(m))
            yield name, m
            kids = [(f"{name}.{k}" if name else k, c) for k, c in m._modules.items()]
            stack.extend(reversed(kids))

    def modules(self):
        """Every module of the tree, self first, depth first."""
        return (m for _, m in self.named_modules())

    def named_parameters(self, prefix=""):
        """(dotted name, Parameter) pairs; a parameter shared by two layers appears once."""
        seen = set()
        for mname, m in self.named_modules(prefix):
            for pname, p in m._parameters.items():
                if id(p) not in seen:
                    seen.add(id(p))
                    yield (f"{mname}.{pname}" if mname else pname), p

    def parameters(self):
        """Every trainable Parameter of the tree, each once (what an optimizer takes)."""
        return (p for _, p in self.named_parameters())

    def named_buffers(self):
        """(dotted name, array) pairs of the non-trainable arrays (running statistics)."""
        for mname, m in self.named_modules():
            for bname, b in m._buffers.items():
                yield (f"{mname}.{bname}" if mname else bname), b

    def apply(self, fn):
        """Call ``fn(module)`` on every module of the tree; returns self."""
        for m in list(self.modules()):
            fn(m)
        return self

    # ------------------------------------------------------------------ modes
    def train(self, mode=True):
        """Training mode (dropout active, batch statistics); returns self."""
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        """Evaluation mode (no dropout, running statistics); returns self."""
        return self.train(False)

    def zero_grad(self, set_to_none=True):
        """Clear the gradients of every parameter."""
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad[...] = 0

    def requires_grad_(self, requires_grad=True):
        """Set ``requires_grad`` on every parameter (False freezes them); returns self."""
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def to(self, *args, device=None, dtype=None):
        """Move and/or convert every parameter and buffer in place; returns self.

        ``model.to("cuda")``, ``model.to(cr.device("cuda:1"))``, ``model.to(np.float64)``
        and ``model.to("cuda", "float64")`` work as in PyTorch. Parameters keep their
        identity (an optimizer built before the move still holds them); gradients move
        with them; float buffers take the new dtype, integer buffers keep theirs.

        Parameters
        ----------
        *args : str, Device or dtype
            A device, a dtype, or both (device first).
        device : str or Device, optional
        dtype : dtype, optional
        """
        from ..device import device as as_device
        from ..device import is_device_spec, to_device

        for a in args:
            if is_device_spec(a):
                device = a
            else:
                dtype = a
        dev = None if device is None else as_device(device)
        dtype = None if dtype is None else np.dtype(dtype)

        def move(a, grad=False):
            if dtype is not None and is_float(a.dtype) and a.dtype != dtype:
                a = a.astype(dtype)
            return a if dev is None else to_device(a, dev)

        for p in self.parameters():
            p.data = move(p.data)
            if p.grad is not None:
                p.grad = None if dtype is not None and p.grad.dtype != dtype else move(p.grad)
        for m in self.modules():
            for name, b in list(m._buffers.items()):
                if b is not None:
                    m.register_buffer(name, move(b))
        return self

    def cpu(self):
        """``to("cpu")``."""
        return self.to(device="cpu")

    def cuda(self, index=0):
        """``to(f"cuda:{index}")``."""
        return self.to(device=f"cuda:{index}")

    def float(self):
        """Convert parameters and float buffers to float32 in place; returns self."""
        return self.to(np.float32)

    def double(self):
        """Convert parameters and float buffers to float64 in place; returns self."""
        return self.to(np.float64)

    # ------------------------------------------------------------------ state
    def state_dict(self):
        """Name -> NumPy array for every parameter and buffer.

        The arrays are host copies (a snapshot), whatever device the model is on, so
        a state dict can be saved, compared or loaded into a model on any device.
        """
        from ..device import to_host

        out = OrderedDict()
        for name, p in self.named_parameters():
            out[name] = p.data.copy() if isinstance(p.data, np.ndarray) else to_host(p.data)
        for name, b in self.named_buffers():
            if b is not None:
                out[name] = b.copy() if isinstance(b, np.ndarray) else to_host(b)
        return out

    def load_state_dict(self, state, strict=True):
        """Copy arrays into the parameters and buffers, in place.

        Raises
        ------
        ValueError
            When ``strict`` and a name is missing or unexpected, or (always) when
            a shape differs; the message names the entry.
        """
        targets = OrderedDict((n, p.data) for n, p in self.named_parameters())
        targets.update((n, b) for n, b in self.named_buffers() if b is not None)
        missing = [n for n in targets if n not in state]
        extra = [n for n in state if n not in targets]
        if strict and (missing or extra):
            parts = []
            if missing:
                parts.append(f"missing {missing}")
            if extra:
                parts.append(f"unexpected {extra}")
            raise ValueError(f"load_state_dict: {' and '.join(parts)} for {type(self).__name__}")
        for name, dst in targets.items():
            if name not in state:
                continue
            src = state[name]
            src = src.data if isinstance(src, Tensor) else src
            if tuple(src.shape) != dst.shape:
                raise ValueError(f"load_state_dict: '{name}' has shape {tuple(src.shape)} in "
                                 f"the state but {dst.shape} in the model")
            dst[...] = array_module(dst).asarray(src, dtype=dst.dtype)
        return self

    # ------------------------------------------------------------------ repr
    def extra_repr(self):
        """The constructor arguments shown inside the module's ``repr`` (``''`` by default)."""
        return ""

    def __repr__(self):
        lines = [f"({k}): " + repr(m).replace("\n", "\n  ") for k, m in self._modules.items()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"
