"""Exponentials and roots: exp, log, sqrt."""

import numpy as np
from helpers import check_op, positive, shapes
from hypothesis import given

import chainrule as cr
import chainrule.functional as F


@given(shapes())
def test_exp(shape):
    check_op(lambda a: a.exp(), np.exp, shape)
    check_op(F.exp, np.exp, shape)


@given(shapes())
def test_log(shape):
    check_op(lambda a: a.log(), np.log, shape, make=positive)
    check_op(F.log, np.log, shape, make=positive)


@given(shapes())
def test_sqrt(shape):
    check_op(lambda a: a.sqrt(), np.sqrt, shape, make=positive)
    check_op(F.sqrt, np.sqrt, shape, make=positive)


def test_exp_log_sqrt_gradients_by_hand():
    x = cr.tensor(np.array([0.5, 1.0, 4.0]), requires_grad=True)
    (x.exp() + x.log() + x.sqrt()).sum().backward()
    v = np.array([0.5, 1.0, 4.0])
    np.testing.assert_allclose(x.grad, np.exp(v) + 1 / v + 0.5 / np.sqrt(v), rtol=1e-12)
