"""train.recipe: the run recipe round-trips through JSON; model kinds and preprocessors plug in."""

import json

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.train.recipe import (
    MODEL_KINDS,
    DataSpec,
    LoaderSpec,
    OptimizerSpec,
    Recipe,
    ScheduleSpec,
    build_loader,
    build_model,
    build_optimizer,
    build_preprocessor,
    build_scheduler,
    register_model,
)


def test_recipe_round_trips_through_json():
    r = Recipe(data=DataSpec(dataset="iris", val_split=0.1),
               model={"kind": "mlp", "hidden": [8, 4], "activation": "tanh"},
               optimizer=OptimizerSpec("sgd", 0.1, 1e-4, {"momentum": 0.9}),
               schedule=ScheduleSpec("cosine", {"T_max": 7}), loader=LoaderSpec(None),
               epochs=7, class_weight="balanced", distributed=True, out="runs/x")
    again = Recipe.from_dict(json.loads(json.dumps(r.to_dict())))
    assert again == r


def test_flat_configs_of_older_runs_still_read():
    flat = {"data": None, "dataset": "iris", "target": None, "task": "auto", "hidden": [8],
            "activation": "relu", "head": "ovr", "loss": "huber", "optimizer": "adam",
            "lr": 0.05, "weight_decay": 0.0, "schedule": "step", "batch_size": 16,
            "epochs": 9, "tol": 1e-4, "patience": 3, "dropout": 0.0, "batch_norm": False,
            "class_weight": "none", "val_split": 0.2, "test_split": 0.2, "seed": 4,
            "checkpoint_every": None, "keep_checkpoints": 2, "quiet": True, "out": "r"}
    r = Recipe.from_dict(flat)
    assert r.model["hidden"] == [8] and r.head == {"head": "ovr", "loss": "huber"}
    assert r.optimizer.lr == 0.05 and r.schedule == ScheduleSpec("step", {"step_size": 3,
                                                                          "gamma": 0.1})
    assert r.loader.batch_size == 16 and r.class_weight is None and r.checkpoint.keep == 2
    with pytest.raises(ValueError, match="unknown recipe entries"):
        Recipe.from_dict({"modle": {}})
    with pytest.raises(ValueError, match="unknown entries"):
        Recipe.from_dict({"optimizer": {"nmae": "sgd"}})


def test_builders_realise_the_recipe():
    r = Recipe(model={"kind": "mlp", "hidden": [5], "dropout": 0.1},
               optimizer=OptimizerSpec("adam", 0.01, options={"betas": (0.8, 0.9)}, fused=True),
               schedule=ScheduleSpec("step", {"step_size": 2}))
    model = build_model(r.model, 3, 2)
    assert isinstance(model, nn.MLP) and [type(m) for m in model] == [
        nn.Linear, nn.ReLU, nn.Dropout, nn.Linear]
    opt = build_optimizer(r.optimizer, model.parameters())
    assert isinstance(opt, cr.optim.Adam) and opt.fused and opt.defaults["betas"] == (0.8, 0.9)
    assert isinstance(build_scheduler(r.schedule, opt), cr.optim.lr_scheduler.StepLR)
    assert build_scheduler(ScheduleSpec(), opt) is None
    with pytest.raises(ValueError, match="'step'.*no_such"):
        build_scheduler(ScheduleSpec("step", {"no_such": 1}), opt)
    loader = build_loader(LoaderSpec(4, prefetch=False),
                          cr.data.ArrayDataset(np.zeros((10, 3)), np.zeros(10)), seed=1)
    assert len(loader) == 3 and not loader.prefetch
    assert build_preprocessor({"kind": "none"}) is None
    assert hasattr(build_preprocessor({"kind": "standard"}), "fit")


def test_a_new_model_kind_plugs_in():
    @register_model("_test_linear")
    def _linear(spec, n_inputs, n_outputs, input_shape=None):
        return nn.Linear(n_inputs, n_outputs, bias=spec.get("bias", True))

    try:
        model = build_model({"kind": "_test_linear", "bias": False}, 4, 2)
        assert isinstance(model, nn.Linear) and model.bias is None
    finally:
        del MODEL_KINDS["_test_linear"]
    with pytest.raises(ValueError, match="unknown model kind 'transformer'"):
        build_model({"kind": "transformer"}, 4, 2)


def test_cnn_model_kind():
    model = build_model({"kind": "cnn", "channels": [3], "hidden": 5}, 16, 4,
                        input_shape=(1, 4, 4))
    assert [type(m).__name__ for m in model] == ["Unflatten", "CNN"]
    assert model(cr.randn(2, 16)).shape == (2, 4)
    assert model[1][0].out_channels == 3
    with pytest.raises(ValueError, match="input_shape"):
        build_model({"kind": "cnn"}, 16, 4)
    with pytest.raises(ValueError, match="16 features"):
        build_model({"kind": "cnn", "input_shape": [1, 3, 3]}, 16, 4)
