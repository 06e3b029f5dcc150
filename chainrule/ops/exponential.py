"""Exponentials and roots: exp, log, sqrt."""

from __future__ import annotations

from ..backend import Array, array_module
from ._util import OpResult


def exp(a: Array) -> OpResult:
    out = array_module(a).exp(a)

    def backward(g, needs):
        return (g * out,)

    return out, backward


def log(a: Array) -> OpResult:
    out = array_module(a).log(a)

    def backward(g, needs):
        return (g / a,)

    return out, backward


def sqrt(a: Array) -> OpResult:
    out = array_module(a).sqrt(a)

    def backward(g, needs):
        return (g / (2 * out),)

    return out, backward
