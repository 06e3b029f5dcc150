"""Every layer a model file may name states exactly what it allocates, and round-trips.

The loader's memory guard (chainrule/io/model_file.py) trusts each registered layer's
``_parameter_count``: the array elements (parameters and ``state_dict`` buffers) that its
constructor arguments allocate. This walks the whole ``LAYER_REGISTRY``, draws realistic
sizes for each class (widths in the hundreds and thousands), and checks (a) the stated
count equals what the constructor allocated and (b) ``cr.save`` then ``cr.load`` gives
the same arrays, dtypes and outputs. A registered layer with no builder below fails.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule import nn
from chainrule.errors import ModelFileError
from chainrule.io.model_file import build, describe, stated_elements

PUBLIC = sorted(name for name in nn.LAYER_REGISTRY if not name.startswith("_"))
ACTIVATION_NAMES = sorted(nn.mlp.ACTIVATIONS)


def _case(args=(), kwargs=None, shape=None):
    """What a builder draws: constructor arguments and an input shape (None: no forward
    on one tensor, a loss)."""
    return tuple(args), dict(kwargs or {}), shape


widths = st.integers(100, 2000)
channels = st.integers(16, 256)


@st.composite
def _linear(draw):
    i, o = draw(widths), draw(widths)
    return _case((i, o), {"bias": draw(st.booleans())}, (3, i))


@st.composite
def _sequential(draw):
    i, h, o = draw(st.integers(100, 1000)), draw(st.integers(100, 1000)), draw(widths)
    return _case((nn.Linear(i, h), nn.ReLU(), nn.BatchNorm1d(h), nn.Linear(h, o)), {}, (4, i))


@st.composite
def _residual(draw):
    n = draw(st.integers(100, 1000))
    return _case((nn.Sequential(nn.Linear(n, n), nn.Tanh()),), {}, (3, n))


@st.composite
def _identity(draw):
    return _case(draw(st.lists(st.integers(1, 4096), max_size=3)), {}, (3, 5))


@st.composite
def _flatten(draw):
    return _case((draw(st.integers(1, 2)), draw(st.sampled_from([-1, 3]))), {}, (2, 3, 4, 5))


@st.composite
def _unflatten(draw):
    size = tuple(draw(st.lists(st.integers(1, 8), min_size=1, max_size=3)))
    return _case((1, size), {}, (2, int(np.prod(size))))


@st.composite
def _dropout(draw):
    return _case((draw(st.sampled_from([0.0, 0.1, 0.5])),), {}, (3, 7))


@st.composite
def _batch_norm(draw, two_d=False):
    n = draw(channels if two_d else widths)
    kwargs = {"affine": draw(st.booleans()), "track_running_stats": draw(st.booleans()),
              "momentum": 0.2}
    return _case((n,), kwargs, (4, n, 3, 3) if two_d else (4, n))


@st.composite
def _layer_norm(draw):
    shape = draw(st.one_of(widths, st.tuples(st.integers(10, 100), st.integers(10, 100))))
    dims = (shape,) if isinstance(shape, int) else shape
    return _case((shape,), {"elementwise_affine": draw(st.booleans())}, (3, *dims))


@st.composite
def _mlp(draw):
    n_in = draw(st.integers(16, 1000))
    hidden = draw(st.lists(st.integers(16, 1024), min_size=1, max_size=3))
    kwargs = {"activation": draw(st.sampled_from(ACTIVATION_NAMES)),
              "dropout": draw(st.sampled_from([0.0, 0.2])),
              "batch_norm": draw(st.booleans()), "residual": draw(st.booleans())}
    return _case((n_in, hidden, draw(st.integers(1, 100))), kwargs, (4, n_in))


@st.composite
def _conv(draw, dims=2):
    groups = draw(st.sampled_from([1, 1, 2, 4, 16]))
    c_in = groups * draw(st.integers(max(16 // groups, 1), 256 // groups))
    c_out = groups * draw(st.integers(max(16 // groups, 1), 256 // groups))
    kwargs = {"stride": draw(st.integers(1, 3)), "padding": draw(st.integers(0, 2)),
              "dilation": draw(st.integers(1, 2)), "groups": groups,
              "bias": draw(st.booleans())}
    return _case((c_in, c_out, draw(st.integers(1, 4))), kwargs, (2, c_in) + (9,) * dims)


@st.composite
def _pool(draw, dims=2, avg=False):
    k = draw(st.integers(1, 3))
    kwargs = {"stride": draw(st.sampled_from([None, 1, 2])),
              "padding": draw(st.integers(0, k // 2))}
    if avg:
        kwargs["count_include_pad"] = draw(st.booleans())
    return _case((k,), kwargs, (2, 3) + (8,) * dims)


@st.composite
def _adaptive(draw):
    return _case((draw(st.sampled_from([1, 2, (2, 3)])),), {}, (2, 3, 6, 6))


@st.composite
def _cnn(draw):
    h, w = draw(st.integers(1, 32)), draw(st.integers(1, 32))
    c_in = draw(st.integers(1, 3))
    kwargs = {"input_size": (h, w), "channels": draw(st.lists(st.integers(8, 64), min_size=1,
                                                              max_size=3)),
              "hidden": draw(st.sampled_from([0, 64, 256])), "batch_norm": draw(st.booleans()),
              "dropout": draw(st.sampled_from([0.0, 0.3]))}
    return _case((c_in, draw(st.integers(2, 20))), kwargs, (2, c_in, h, w))


@st.composite
def _residual_block(draw):
    c_in = draw(st.integers(16, 128))
    c_out = draw(st.sampled_from([None, c_in, 2 * c_in, 24]))
    return _case((c_in, c_out, draw(st.integers(1, 2))), {}, (2, c_in, 8, 8))


@st.composite
def _resnet(draw):
    c_in = draw(st.integers(1, 3))
    kwargs = {"blocks": draw(st.integers(0, 5)), "width": draw(st.integers(8, 32)),
              "downsample_every": draw(st.integers(0, 2))}
    return _case((c_in, draw(st.integers(2, 10))), kwargs, (2, c_in, 8, 8))


def _loss(*kinds):
    @st.composite
    def draw_loss(draw):
        kwargs = {"reduction": draw(st.sampled_from(["mean", "sum", "none"]))}
        if "half" in kinds:
            kwargs["half"] = draw(st.booleans())
        if "delta" in kinds:
            kwargs["delta"] = draw(st.sampled_from([0.5, 1.0, 2.0]))
        if "weight" in kinds:
            kwargs["weight"] = draw(st.none() | st.lists(st.floats(0.1, 2.0), min_size=3,
                                                         max_size=3))
        if "smoothing" in kinds:
            kwargs["label_smoothing"] = draw(st.sampled_from([0.0, 0.1]))
        return _case((), kwargs, None)
    return draw_loss()


def _activation(**options):
    @st.composite
    def draw_activation(draw):
        return _case((), {k: draw(st.sampled_from(v)) for k, v in options.items()}, (3, 50))
    return draw_activation()


#: Registered layer name -> strategy drawing its constructor arguments and an input shape.
BUILDERS = {
    "Linear": _linear(), "Sequential": _sequential(), "Residual": _residual(),
    "Identity": _identity(), "Flatten": _flatten(), "Unflatten": _unflatten(),
    "Dropout": _dropout(), "BatchNorm1d": _batch_norm(), "BatchNorm2d": _batch_norm(two_d=True),
    "LayerNorm": _layer_norm(), "MLP": _mlp(),
    "Conv1d": _conv(dims=1), "Conv2d": _conv(dims=2),
    "MaxPool1d": _pool(dims=1), "MaxPool2d": _pool(), "AvgPool1d": _pool(dims=1, avg=True),
    "AvgPool2d": _pool(avg=True), "AdaptiveAvgPool2d": _adaptive(),
    "CNN": _cnn(), "ResidualBlock": _residual_block(), "ResNet": _resnet(),
    "ReLU": _activation(), "Sigmoid": _activation(), "Tanh": _activation(),
    "LeakyReLU": _activation(negative_slope=[0.01, 0.2]), "ELU": _activation(alpha=[0.5, 1.0]),
    "GELU": _activation(approximate=["none", "tanh"]), "Softmax": _activation(dim=[-1, 0]),
    "LogSoftmax": _activation(dim=[-1, 1]),
    "MSELoss": _loss("half"), "L1Loss": _loss(), "HuberLoss": _loss("delta"),
    "BCELoss": _loss("weight"), "BCEWithLogitsLoss": _loss("weight"),
    "CrossEntropyLoss": _loss("weight", "smoothing"), "NLLLoss": _loss("weight"),
}

#: The sizes the bug reports named, and each network at its defaults.
FIXED = [
    ("MLP", (784, [1024, 1024], 10), {}, (2, 784)),
    ("MLP", (64, [64, 32], 10), {}, (2, 64)),
    ("MLP", (64, [256, 128], 10), {"batch_norm": True}, (2, 64)),
    ("CNN", (1, 10), {}, (2, 1, 28, 28)),
    ("CNN", (1, 10, (8, 8)), {}, (2, 1, 8, 8)),
    ("ResNet", (1, 10), {}, (2, 1, 8, 8)),
    ("ResNet", (3, 10), {"blocks": 6, "width": 16, "downsample_every": 2}, (2, 3, 8, 8)),
    ("ResidualBlock", (64,), {}, (2, 64, 8, 8)),
    ("Linear", (4096, 1000), {}, (2, 4096)),
]


def _elements(module):
    return sum(int(a.size) for a in module.state_dict().values())


def _check(name, args, kwargs, shape, tmp_path):
    cls = nn.LAYER_REGISTRY[name]
    layer = cls(*args, **kwargs).eval()
    given_modules = [a for a in args if isinstance(a, nn.Module)]
    # (a) the count it states before building is what it allocated itself
    allocated = _elements(layer) - sum(_elements(m) for m in given_modules)
    stated = stated_elements(cls, args, kwargs)
    assert stated == allocated, (f"{name}{args, kwargs}: _parameter_count says {stated}, "
                                 f"the constructor allocated {allocated}")
    # (b) save then load: the same arrays, bit for bit, and the same outputs
    path = tmp_path / f"{name}.safetensors"
    cr.save(layer, path)
    loaded = cr.load(path)
    assert type(loaded) is cls
    want, got = layer.state_dict(), loaded.state_dict()
    assert list(got) == list(want)
    for k, v in want.items():
        assert got[k].dtype == v.dtype and got[k].shape == v.shape, k
        np.testing.assert_array_equal(got[k], v, err_msg=k)
    if shape is not None:
        x = cr.tensor(np.random.default_rng(0).standard_normal(shape).astype(np.float32))
        with cr.no_grad():
            np.testing.assert_array_equal(loaded(x).numpy(), layer(x).numpy())
    # and the guard refuses that description when the file would hold fewer weights
    total = _elements(layer)
    if total > 1 << 21:
        with pytest.raises(ModelFileError, match="is larger than the weights the file holds"):
            build(describe(layer), "f", max_elements=total - (1 << 21))


@pytest.mark.parametrize("name", PUBLIC)
@settings(max_examples=5)
@given(data=st.data())
def test_every_registered_layer_states_what_it_allocates_and_round_trips(name, data,
                                                                        tmp_path_factory):
    if name not in BUILDERS:
        pytest.fail(f"the layer {name} is registered (a model file may name it) but "
                    f"tests/io/test_layer_registry.py has no builder for it: add one to "
                    f"BUILDERS, drawing realistic constructor arguments, so that its "
                    f"_parameter_count is checked against what it allocates")
    args, kwargs, shape = data.draw(BUILDERS[name], label=name)
    _check(name, args, kwargs, shape, tmp_path_factory.mktemp(name))


@pytest.mark.parametrize("name, args, kwargs, shape", FIXED,
                         ids=[f"{n}{a}{k or ''}" for n, a, k, _ in FIXED])
def test_reported_sizes_and_defaults_round_trip(name, args, kwargs, shape, tmp_path):
    _check(name, args, kwargs, shape, tmp_path)


def test_the_table_names_only_registered_layers():
    assert sorted(set(BUILDERS) - set(PUBLIC)) == []
