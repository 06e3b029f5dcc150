"""Exponentials and roots: exp, log, sqrt."""

from __future__ import annotations

from ..backend import array_module


def exp(a):
    out = array_module(a).exp(a)

    def backward(g, needs):
        return (g * out,)

    return out, backward


def log(a):
    out = array_module(a).log(a)

    def backward(g, needs):
        return (g / a,)

    return out, backward


def sqrt(a):
    out = array_module(a).sqrt(a)

    def backward(g, needs):
        return (g / (2 * out),)

    return out, backward
