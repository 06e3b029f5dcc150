"""nn.init: the Glorot and He families, constants, determinism and calculate_gain."""

import math

import numpy as np
import pytest
from helpers import host

import chainrule as cr
from chainrule import nn
from chainrule.nn import init

FAN_OUT, FAN_IN = 400, 600  # a weight of shape (out, in): 240 000 samples


def _weight(shape=(FAN_OUT, FAN_IN), dtype=np.float32):
    return nn.Parameter(np.full(shape, np.nan, dtype=dtype))


def _check_uniform(w, bound):
    a = host(w).astype(np.float64)
    assert np.all(np.abs(a) <= bound * (1 + 1e-6))
    assert np.abs(a).max() > 0.999 * bound  # the whole interval is used
    assert abs(a.mean()) < 0.01 * bound
    assert a.std() == pytest.approx(bound / math.sqrt(3), rel=0.01)


def _check_normal(w, std):
    a = host(w).astype(np.float64)
    assert abs(a.mean()) < 0.01 * std
    assert a.std() == pytest.approx(std, rel=0.01)
    # Gaussian, not uniform: about 4.55% of the samples lie beyond 2 std.
    assert np.mean(np.abs(a) > 2 * std) == pytest.approx(0.0455, abs=0.003)


# ---------------------------------------------------------------- Glorot / Xavier
@pytest.mark.parametrize("gain", [1.0, 5 / 3])
def test_xavier_uniform(gain):
    w = _weight()
    assert init.xavier_uniform_(w, gain=gain) is w
    _check_uniform(w, gain * math.sqrt(6 / (FAN_IN + FAN_OUT)))


@pytest.mark.parametrize("gain", [1.0, math.sqrt(2)])
def test_xavier_normal(gain):
    w = _weight()
    assert init.xavier_normal_(w, gain=gain) is w
    _check_normal(w, gain * math.sqrt(2 / (FAN_IN + FAN_OUT)))


def test_glorot_names_are_xavier():
    assert init.glorot_uniform_ is init.xavier_uniform_
    assert init.glorot_normal_ is init.xavier_normal_


# ---------------------------------------------------------------- He / Kaiming
@pytest.mark.parametrize("mode,fan", [("fan_in", FAN_IN), ("fan_out", FAN_OUT)])
def test_kaiming_uniform_relu(mode, fan):
    w = _weight()
    assert init.kaiming_uniform_(w, mode=mode, nonlinearity="relu") is w
    _check_uniform(w, math.sqrt(2) * math.sqrt(3 / fan))


def test_kaiming_uniform_default_is_leaky_relu_with_slope_a():
    w = _weight()
    init.kaiming_uniform_(w)  # a = 0: gain sqrt(2), as for relu
    _check_uniform(w, math.sqrt(6 / FAN_IN))
    init.kaiming_uniform_(w, a=math.sqrt(5))  # Linear's default: bound 1/sqrt(fan_in)
    _check_uniform(w, 1 / math.sqrt(FAN_IN))


@pytest.mark.parametrize("mode,fan", [("fan_in", FAN_IN), ("fan_out", FAN_OUT)])
def test_kaiming_normal_relu(mode, fan):
    w = _weight()
    assert init.kaiming_normal_(w, mode=mode, nonlinearity="relu") is w
    _check_normal(w, math.sqrt(2 / fan))


def test_kaiming_normal_tanh_gain():
    w = _weight()
    init.kaiming_normal_(w, nonlinearity="tanh")
    _check_normal(w, (5 / 3) / math.sqrt(FAN_IN))


def test_he_names_are_kaiming():
    assert init.he_uniform_ is init.kaiming_uniform_
    assert init.he_normal_ is init.kaiming_normal_


def test_kaiming_rejects_bad_mode():
    with pytest.raises(ValueError, match="mode"):
        init.kaiming_normal_(_weight((3, 3)), mode="fan_avg")


def test_fans_of_higher_rank_weights_include_the_receptive_field():
    w = _weight((40, 30, 5))  # (out, in, kernel): fan_in = 150, fan_out = 200
    init.xavier_uniform_(w)
    bound = math.sqrt(6 / (150 + 200))
    assert np.all(np.abs(host(w)) <= bound) and np.abs(host(w)).max() > 0.99 * bound
    init.kaiming_uniform_(w, nonlinearity="relu")
    bound = math.sqrt(6 / 150)
    assert np.all(np.abs(host(w)) <= bound) and np.abs(host(w)).max() > 0.99 * bound


@pytest.mark.parametrize("fn", [init.xavier_uniform_, init.xavier_normal_,
                                init.kaiming_uniform_, init.kaiming_normal_])
def test_fan_based_init_needs_two_dimensions(fn):
    with pytest.raises(ValueError, match="2 dimensions"):
        fn(_weight((5,)))


# ---------------------------------------------------------------- plain distributions, constants
def test_uniform_and_normal():
    w = _weight()
    init.uniform_(w, -0.5, 1.5)
    a = host(w).astype(np.float64)
    assert a.min() >= -0.5 and a.max() <= 1.5
    assert a.mean() == pytest.approx(0.5, abs=0.01)
    assert a.std() == pytest.approx(2 / math.sqrt(12), rel=0.01)
    init.normal_(w, mean=3.0, std=0.2)
    a = host(w).astype(np.float64)
    assert a.mean() == pytest.approx(3.0, abs=0.002)
    assert a.std() == pytest.approx(0.2, rel=0.01)


def test_constants():
    w = _weight((3, 4))
    assert init.zeros_(w) is w
    np.testing.assert_array_equal(w.data, 0.0)
    init.ones_(w)
    np.testing.assert_array_equal(w.data, 1.0)
    init.constant_(w, -2.5)
    np.testing.assert_array_equal(w.data, -2.5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_init_is_in_place_and_keeps_dtype(dtype):
    w = _weight((6, 5), dtype=dtype)
    data = w.data
    for fn in (init.xavier_uniform_, init.kaiming_normal_, init.zeros_):
        fn(w)
        assert w.data is data and w.dtype == dtype


def test_init_on_a_layer_weight():
    lin = nn.Linear(50, 20)
    init.kaiming_normal_(lin.weight, nonlinearity="relu")
    init.zeros_(lin.bias)
    np.testing.assert_array_equal(lin(cr.tensor(np.zeros((2, 50)))).numpy(), 0.0)
    assert dict(lin.named_parameters())["weight"] is lin.weight  # still the same Parameter


# ---------------------------------------------------------------- determinism
@pytest.mark.parametrize("fn", [init.xavier_uniform_, init.xavier_normal_,
                                init.kaiming_uniform_, init.kaiming_normal_,
                                init.uniform_, init.normal_])
def test_deterministic_under_manual_seed(fn):
    cr.manual_seed(123)
    a = host(fn(_weight((8, 6)))).copy()
    b = host(fn(_weight((8, 6)))).copy()
    cr.manual_seed(123)
    np.testing.assert_array_equal(fn(_weight((8, 6))).data, a)
    np.testing.assert_array_equal(fn(_weight((8, 6))).data, b)
    assert not np.array_equal(a, b)


def test_explicit_generator_leaves_global_stream_alone():
    cr.manual_seed(5)
    expected = init.normal_(_weight((4, 4))).data.copy()
    cr.manual_seed(5)
    g1 = init.normal_(_weight((4, 4)), generator=np.random.default_rng(9)).data.copy()
    np.testing.assert_array_equal(init.normal_(_weight((4, 4))).data, expected)
    g2 = init.normal_(_weight((4, 4)), generator=np.random.default_rng(9)).data
    np.testing.assert_array_equal(g1, g2)


# ---------------------------------------------------------------- calculate_gain
@pytest.mark.parametrize("name,param,gain", [
    ("linear", None, 1.0),
    ("identity", None, 1.0),
    ("sigmoid", None, 1.0),
    ("tanh", None, 5 / 3),
    ("relu", None, math.sqrt(2)),
    ("leaky_relu", None, math.sqrt(2 / (1 + 0.01**2))),
    ("leaky_relu", 0.2, math.sqrt(2 / (1 + 0.2**2))),
    ("leaky_relu", 0, math.sqrt(2)),
    ("selu", None, 0.75),
])
def test_calculate_gain(name, param, gain):
    assert init.calculate_gain(name, param) == pytest.approx(gain, rel=1e-15)


def test_calculate_gain_unknown():
    with pytest.raises(ValueError, match="softplus"):
        init.calculate_gain("softplus")
