"""Conv1d/Conv2d, pooling layers and BatchNorm2d: shapes, initialisation, statistics, resume."""

import json
import math
import shutil

import numpy as np
import pytest

import chainrule as cr
import chainrule.functional as F
from chainrule import nn, optim
from chainrule.data import ArrayDataset, DataLoader
from chainrule.errors import ModelFileError
from chainrule.io import build
from chainrule.train import CheckpointManager, Trainer, make_head
from chainrule.train.checkpoint import list_checkpoints, load_checkpoint


def test_conv2d_weight_layout_and_pytorch_initialisation():
    conv = nn.Conv2d(6, 8, (3, 5), groups=2)
    assert conv.weight.shape == (8, 3, 3, 5) and conv.bias.shape == (8,)
    bound = 1 / math.sqrt(3 * 3 * 5)  # fan_in = in_channels / groups * kH * kW
    for p in (conv.weight.data, conv.bias.data):
        assert np.abs(p).max() <= bound
    big = nn.Conv2d(64, 64, 3)
    w = big.weight.data
    assert abs(w.std() - bound_std(64 * 9)) < 0.05 * bound_std(64 * 9)
    assert np.abs(w).max() > 0.99 / math.sqrt(64 * 9)  # uniform up to the bound


def bound_std(fan_in):
    return 1 / math.sqrt(fan_in) / math.sqrt(3)  # std of U(-b, b) is b / sqrt(3)


def test_conv_layers_run_their_functional_ops():
    x2 = cr.randn(2, 4, 7, 6)
    c2 = nn.Conv2d(4, 6, 3, stride=2, padding=1, dilation=(1, 2), groups=2, bias=False)
    np.testing.assert_array_equal(c2(x2).numpy(), F.conv2d(x2, c2.weight, None, 2, 1, (1, 2),
                                                           2).numpy())
    x1 = cr.randn(2, 3, 9)
    c1 = nn.Conv1d(3, 5, 3, padding="same")
    y = c1(x1)
    assert y.shape == (2, 5, 9)
    np.testing.assert_array_equal(y.numpy(), F.conv1d(x1, c1.weight, c1.bias,
                                                      padding="same").numpy())
    assert nn.Conv1d(3, 5, 4, stride=2)(x1).shape == (2, 5, 3)


def test_conv_layer_arguments_are_checked():
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="stride 1"):
        nn.Conv2d(3, 4, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="kernel_size"):
        nn.Conv2d(3, 4, (3, 3, 3))
    with pytest.raises(ValueError, match="padding_mode"):
        nn.Conv1d(3, 4, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="at most half"):
        nn.MaxPool2d(2, padding=2)


def test_pooling_layers():
    x = cr.randn(2, 3, 6, 6)
    assert nn.MaxPool2d(2)(x).shape == (2, 3, 3, 3)
    assert nn.AvgPool2d(3, stride=1, padding=1)(x).shape == (2, 3, 6, 6)
    g = nn.AdaptiveAvgPool2d(1)(x)
    np.testing.assert_allclose(g.numpy()[..., 0, 0], x.numpy().mean(axis=(2, 3)), rtol=1e-6)
    x1 = cr.randn(2, 3, 8)
    assert nn.MaxPool1d(2)(x1).shape == (2, 3, 4)
    assert nn.AvgPool1d(4, stride=2)(x1).shape == (2, 3, 3)
    assert repr(nn.MaxPool1d(2)) == "MaxPool1d(kernel_size=2, stride=2, padding=0)"


def test_batchnorm2d_normalises_each_channel_and_tracks_running_statistics():
    r = np.random.default_rng(0)
    x = r.normal(3.0, 2.0, size=(4, 3, 5, 5))
    bn = nn.BatchNorm2d(3, dtype="float64")
    y = bn(cr.tensor(x)).numpy()
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, rtol=1e-4)
    np.testing.assert_allclose(bn.running_mean, 0.1 * x.mean(axis=(0, 2, 3)), rtol=1e-12)
    unbiased = x.var(axis=(0, 2, 3), ddof=1)
    np.testing.assert_allclose(bn.running_var, 0.9 + 0.1 * unbiased, rtol=1e-12)
    bn.eval()
    expect = (x - bn.running_mean[:, None, None]) / np.sqrt(bn.running_var[:, None, None] + 1e-5)
    np.testing.assert_allclose(bn(cr.tensor(x)).numpy(), expect, rtol=1e-10)
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        bn(cr.tensor(x[:, :, 0]))


def test_batchnorm2d_gradcheck():
    bn = nn.BatchNorm2d(2, dtype="float64")
    x = cr.tensor(np.random.default_rng(1).normal(size=(3, 2, 2, 3)), requires_grad=True)
    assert cr.gradcheck(lambda x_, w, b: F.batch_norm(x_, None, None, w, b), x, bn.weight,
                        bn.bias)


def test_model_file_sizes_conv_layers_from_their_weights_not_their_strides():
    depthwise = nn.Conv2d(256, 256, 3, stride=2, padding=2, dilation=2, groups=256)
    again = build(cr.io.describe(depthwise), max_elements=256 * 9 + 256)
    assert again.weight.shape == (256, 1, 3, 3)
    huge = {"type": "Conv2d", "args": [4096, 4096, {"tuple": [99, 99]}], "kwargs": {}}
    with pytest.raises(ModelFileError, match="larger than the weights"):
        build(json.loads(json.dumps(huge)), max_elements=100)
    bad = {"type": "Conv2d", "args": [4, 4, "x"], "kwargs": {}}
    with pytest.raises(ModelFileError, match="Conv2d"):
        build(bad, max_elements=100)


def _cnn_trainer(directory):
    cr.manual_seed(3)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Conv2d(4, 4, 3, padding="same"), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    opt = optim.Adam(model.parameters(), lr=0.01)
    trainer = Trainer(model, head=make_head("classification", n_classes=3), optimizer=opt,
                      checkpoint=CheckpointManager(directory, every_steps=1, keep=100))
    r = np.random.default_rng(0)
    X = r.normal(size=(30, 1, 6, 6)).astype(np.float32)
    y = np.digitize(X.mean(axis=(1, 2, 3)), [-0.1, 0.1]).astype(np.int64)
    return trainer, DataLoader(ArrayDataset(X, y), batch_size=8, seed=1), (X, y)


def test_cnn_training_resumes_exactly_from_a_checkpoint(tmp_path):
    ref, loader, val = _cnn_trainer(tmp_path / "ref")
    ref.fit(loader, val, epochs=2)
    state = load_checkpoint(sorted(list_checkpoints(tmp_path / "ref"))[4])  # mid-epoch 2
    resumed, loader, val = _cnn_trainer(tmp_path / "again")
    resumed.fit(loader, val, epochs=2, resume=state)
    for k, v in ref.model.state_dict().items():
        assert np.array_equal(v, resumed.model.state_dict()[k]), k
    shutil.rmtree(tmp_path)
