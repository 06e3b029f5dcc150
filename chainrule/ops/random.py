"""Ops that draw random numbers: dropout."""

from __future__ import annotations

import numpy as np

from ..backend import Array, array_module
from ._util import OpResult


def dropout(a: Array, p: float, generator: np.random.Generator) -> OpResult:
    """Inverted dropout: zero each element with probability ``p``, scale the rest by 1/(1-p).

    ``generator`` is a ``numpy.random.Generator``; the mask is drawn on the host
    and moved to the array's device.
    """
    xp = array_module(a)
    keep = generator.random(a.shape, dtype="float32" if a.dtype.itemsize <= 4 else "float64")
    mask = xp.asarray((keep >= p) * (1.0 / (1.0 - p)), dtype=a.dtype)
    out = a * mask

    def backward(g, needs):
        return (g * mask,)

    return out, backward
