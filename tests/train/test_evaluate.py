"""train.evaluate: predict / evaluate as plain functions; class weights in one place."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import chainrule as cr
from chainrule import nn
from chainrule.train import SoftmaxHead, Trainer
from chainrule.train.evaluate import evaluate, loss_value, predict, predict_outputs
from chainrule.train.heads import RegressionHead, class_weights


def _model():
    cr.manual_seed(0)
    return nn.MLP(3, [5], 4, dropout=0.5)


def test_predict_outputs_batches_evaluation_mode_and_restores_training():
    model = _model()
    X = np.random.default_rng(0).normal(size=(11, 3)).astype(np.float32)
    model.train()
    whole = predict_outputs(model, X)
    assert model.training  # restored
    assert_allclose(predict_outputs(model, X, batch_size=4), whole, rtol=1e-6)
    model.eval()
    assert_allclose(model(cr.tensor(X)).numpy(), whole, rtol=1e-6)  # dropout off
    assert predict_outputs(model, X[:0], n_outputs=4).shape == (0, 4)
    assert_array_equal(predict(model, X, SoftmaxHead(4)), whole.argmax(axis=1))
    assert_array_equal(predict(model, X), whole)


def test_evaluate_loss_and_metrics_match_a_direct_computation():
    model = _model()
    r = np.random.default_rng(1)
    X, y = r.normal(size=(20, 3)).astype(np.float32), r.integers(0, 4, 20)
    w = r.uniform(0.5, 2.0, 20).astype(np.float32)
    head = SoftmaxHead(4)
    logs = evaluate(model, (X, y, w), head, head.loss_module(), prefix="val_")
    out = predict_outputs(model, X)
    direct = head.loss_module()(cr.tensor(out), y, sample_weight=w).item()
    assert logs["val_loss"] == pytest.approx(direct, rel=1e-6)
    assert logs["val_accuracy"] == pytest.approx(np.mean(out.argmax(1) == y))
    assert loss_value(head.loss_module(), out, y, w) == pytest.approx(direct, rel=1e-6)
    custom = evaluate(model, (X, y, w), head, None,
                      {"wacc": lambda yt, o, sw: np.average(o.argmax(1) == yt, weights=sw)})
    assert set(custom) == {"wacc"}
    assert custom["wacc"] == pytest.approx(np.average(out.argmax(1) == y, weights=w))
    reg = evaluate(model, (X, r.normal(size=(20, 4))), RegressionHead(4))
    assert {"mse", "rmse", "mae", "r2"} <= set(reg)


def test_trainer_evaluate_is_the_function():
    model = _model()
    X, y = np.eye(3, dtype=np.float32)[[0, 1, 2, 0]], np.array([0, 1, 2, 3])
    trainer = Trainer(model, optimizer=cr.optim.SGD(model.parameters(), lr=0.1),
                      head=SoftmaxHead(4))
    assert trainer.evaluate((X, y)) == evaluate(model, (X, y), SoftmaxHead(4),
                                                trainer.loss_fn)


def test_class_weights_balanced_dict_and_labels():
    y = np.array([0, 0, 0, 1, 2, 2])
    assert_allclose(class_weights("balanced", y, 3), 6 / (3 * np.array([3, 1, 2])))
    # a class absent from y weighs 1; the others n / (n_present * count)
    assert_allclose(class_weights("balanced", np.array([0, 0, 2]), 3), [0.75, 1.0, 1.5])
    assert_allclose(class_weights({1: 4.0}, y, 3), [1, 4, 1])
    assert_allclose(class_weights({"b": 2.0}, y, 3, labels=["a", "b", "c"]), [1, 2, 1])
    assert class_weights(None, y, 3) is None
    with pytest.raises(ValueError, match="not in classes_"):
        class_weights({"z": 2.0}, y, 3, labels=["a", "b", "c"])
    with pytest.raises(ValueError, match="class 3 is not in 0..2"):
        class_weights({3: 2.0}, y, 3)
    with pytest.raises(ValueError, match="dict or 'balanced'"):
        class_weights("auto", y, 3)
