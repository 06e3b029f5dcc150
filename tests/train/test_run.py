"""chainrule.train.run: a CLI run's parts that the end-to-end tests (tests/test_cli*.py)
cannot drive, such as a class that only a held-out split holds."""

import numpy as np
import pytest

from chainrule.errors import ChainruleError


def test_class_only_in_a_held_out_split_is_refused(monkeypatch):
    # Stratified splits keep a sample of every class for training, so the guard is driven
    # with splits that put one class in a held-out part only.
    import chainrule.data as data_mod
    from chainrule.data import Table
    from chainrule.train.recipe import DataSpec, Recipe
    from chainrule.train.run import split

    def fake_split(test_rows, val_rows):
        def split(n, size, seed=None, stratify=None):
            held = test_rows if n == 9 else val_rows
            return np.setdiff1d(np.arange(n), held), np.asarray(held)
        return split

    table = Table(X=np.zeros((9, 2), np.float32), y=np.array([0, 1, 0, 1, 0, 1, 2, 0, 1]),
                  feature_names=["a", "b"], target_name="species", classes=["cat", "dog", "emu"],
                  source="f.csv", task="classification")
    cfg = Recipe(data=DataSpec(test_split=0.2, val_split=0.2), seed=0)
    monkeypatch.setattr(data_mod, "split_indices", fake_split([6], [7]))
    with pytest.raises(ChainruleError, match="f.csv: class 'emu' appears in the test split "
                                                 "but never in the training split.*--test-split"):
        split(table, cfg)
    # validation rows are positions in the rest: [0..5, 7, 8][7] is row 8
    table.y = np.array([0, 1, 0, 1, 0, 1, 0, 0, 2])
    monkeypatch.setattr(data_mod, "split_indices", fake_split([6], [7]))
    with pytest.raises(ChainruleError, match="'emu' appears in the validation split.*"
                                                 "--val-split"):
        split(table, cfg)
    table.y = np.array([0, 1, 0, 1, 0, 1, 2, 2, 1])
    train, val, test = split(table, cfg)  # every held-out class is seen in training
    assert sorted(np.concatenate([train, val, test]).tolist()) == list(range(9))
