"""Convolution layers, Conv1d and Conv2d, shaped like ``torch.nn``.

Layouts are PyTorch's: (N, C, H, W) and (N, C, L) inputs, ``Conv2d.weight`` of
shape (out_channels, in_channels / groups, kH, kW), so a PyTorch state dict maps
one to one. See :mod:`chainrule.ops.conv` for the im2col implementation and the
memory its column buffer takes.
"""

from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from ..ops.window import ntuple
from . import init
from .module import Module, Parameter, _size


class _ConvNd(Module):
    _dims = 2

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", dtype="float32"):
        super().__init__()
        name = type(self).__name__
        for arg, v in (("in_channels", in_channels), ("out_channels", out_channels),
                       ("groups", groups)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name}: {arg} must be a positive integer, got {v!r}")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must be divisible by groups ({groups})")
        if padding_mode != "zeros":
            raise ValueError(f"{name}: only padding_mode='zeros' is supported, got "
                             f"{padding_mode!r}")
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.kernel_size = ntuple(kernel_size, self._dims, "kernel_size", name)
        self.stride = ntuple(stride, self._dims, "stride", name)
        self.dilation = ntuple(dilation, self._dims, "dilation", name)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"{name}: padding must be an int, a tuple, 'same' or 'valid', "
                                 f"got {padding!r}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"{name}: padding='same' needs stride 1, got {self.stride}")
            self.padding = padding
        else:
            self.padding = ntuple(padding, self._dims, "padding", name, minimum=0)
        self.groups = int(groups)
        self.weight = Parameter(np.empty((out_channels, in_channels // groups)
                                         + self.kernel_size, dtype=dtype))
        self.bias = Parameter(np.empty(out_channels, dtype=dtype)) if bias else None
        self.reset_parameters()

    @classmethod
    def _parameter_count(cls, in_channels, out_channels, kernel_size, stride=1, padding=0,
                         dilation=1, groups=1, bias=True, padding_mode="zeros", dtype="float32"):
        """Elements the constructor allocates (see :meth:`Module._parameter_count`)."""
        name = cls.__name__
        n_in, n_out = _size(in_channels, "in_channels", name), \
            _size(out_channels, "out_channels", name)
        k = ntuple(kernel_size, cls._dims, "kernel_size", name)
        return n_in // _size(groups, "groups", name) * n_out * math.prod(k) \
            + (n_out if bias else 0)

    def reset_parameters(self):
        # NOTE: PyTorch's default: kaiming_uniform with a=sqrt(5) is U(-1/sqrt(fan_in),
        # 1/sqrt(fan_in)) with fan_in = in_channels / groups * prod(kernel_size); bias alike.
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.in_channels // self.groups * math.prod(self.kernel_size)
            bound = 1 / math.sqrt(fan_in)
            init.uniform_(self.bias, -bound, bound)

    def extra_repr(self):
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0,) * self._dims:
            s += f", padding={self.padding!r}"
        if self.dilation != (1,) * self._dims:
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class Conv2d(_ConvNd):
    """2-D convolution over (N, C, H, W) inputs.

    ``weight`` (out_channels, in_channels / groups, kH, kW) and ``bias`` start from
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)), PyTorch's default.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or (int, int)
    stride, dilation : int or (int, int), default 1
    padding : int, (int, int), 'same' or 'valid', default 0
    groups : int, default 1
        ``groups == in_channels``: a depthwise convolution.
    bias : bool, default True
    padding_mode : {'zeros'}
    dtype : dtype, default float32

    Examples
    --------
    >>> conv = cr.nn.Conv2d(1, 8, 3, padding=1)
    >>> conv(cr.randn(4, 1, 28, 28)).shape
    (4, 8, 28, 28)
    """

    _dims = 2

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups)


class Conv1d(_ConvNd):
    """1-D convolution over (N, C, L) inputs; arguments as :class:`Conv2d` with single ints.

    ``weight`` has shape (out_channels, in_channels / groups, kernel_size).
    """

    _dims = 1

    def forward(self, x):
        return F.conv1d(x, self.weight, self.bias, self.stride[0],
                        self.padding if isinstance(self.padding, str) else self.padding[0],
                        self.dilation[0], self.groups)
