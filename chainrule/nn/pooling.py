"""Pooling layers: MaxPool1d/2d, AvgPool1d/2d, AdaptiveAvgPool2d (no weights)."""

from __future__ import annotations

from .. import functional as F
from ..ops.window import ntuple
from .module import Module


class _Pool(Module):
    _dims = 2

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        name = type(self).__name__
        self.kernel_size = ntuple(kernel_size, self._dims, "kernel_size", name)
        self.stride = self.kernel_size if stride is None else ntuple(
            stride, self._dims, "stride", name)
        self.padding = ntuple(padding, self._dims, "padding", name, minimum=0)
        if any(2 * p > k for p, k in zip(self.padding, self.kernel_size)):
            raise ValueError(f"{name}: padding {self.padding} must be at most half the kernel "
                             f"size {self.kernel_size}")

    def _args(self):
        if self._dims == 1:
            return self.kernel_size[0], self.stride[0], self.padding[0]
        return self.kernel_size, self.stride, self.padding

    def extra_repr(self):
        k, s, p = self._args()
        return f"kernel_size={k}, stride={s}, padding={p}"


class MaxPool2d(_Pool):
    """Maximum over ``kernel_size`` windows of (N, C, H, W); ``stride`` defaults to the kernel.

    Padding (at most half the kernel) counts as -inf; the gradient goes to each
    window's arg-max.
    """

    def forward(self, x):
        return F.max_pool2d(x, *self._args())


class MaxPool1d(_Pool):
    """Maximum over ``kernel_size`` windows of (N, C, L); see :class:`MaxPool2d`."""

    _dims = 1

    def forward(self, x):
        return F.max_pool1d(x, *self._args())


class AvgPool2d(_Pool):
    """Mean over ``kernel_size`` windows of (N, C, H, W); zero padding counts in the mean
    unless ``count_include_pad=False``."""

    def __init__(self, kernel_size, stride=None, padding=0, count_include_pad=True):
        super().__init__(kernel_size, stride, padding)
        self.count_include_pad = bool(count_include_pad)

    def forward(self, x):
        return F.avg_pool2d(x, *self._args(), count_include_pad=self.count_include_pad)


class AvgPool1d(AvgPool2d):
    """Mean over ``kernel_size`` windows of (N, C, L); see :class:`AvgPool2d`."""

    _dims = 1

    def forward(self, x):
        return F.avg_pool1d(x, *self._args(), count_include_pad=self.count_include_pad)


class AdaptiveAvgPool2d(Module):
    """Average (N, C, H, W) into an ``output_size`` grid whatever H and W are;
    ``AdaptiveAvgPool2d(1)`` is global average pooling."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = ntuple(output_size, 2, "output_size", "AdaptiveAvgPool2d")

    def forward(self, x):
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"
