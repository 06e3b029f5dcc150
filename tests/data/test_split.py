"""train_test_split / split_indices: shuffled, disjoint, stratified, deterministic."""

import numpy as np
import pytest

import chainrule as cr
from chainrule.data import load_dataset, split_indices, train_test_split
from chainrule.errors import DataError


def test_parts_are_disjoint_complete_and_shuffled():
    train, test = split_indices(100, test_size=0.2, seed=0)
    assert train.size == 80 and test.size == 20
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(100))
    assert test.max() < 99 or test.min() > 0  # not simply a block at either end
    assert not np.array_equal(np.sort(test), np.arange(80, 100))
    assert not np.array_equal(np.sort(test), np.arange(20))


def test_arrays_are_split_with_the_same_rows():
    X = np.arange(50)[:, None] * np.ones((1, 2))
    y = np.arange(50)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=10, seed=1)
    assert X_tr.shape == (40, 2) and X_te.shape == (10, 2)
    np.testing.assert_array_equal(X_tr[:, 0], y_tr)
    np.testing.assert_array_equal(X_te[:, 1], y_te)


def test_sorted_file_validation_part_is_not_the_last_rows():
    y = np.repeat([0, 1], 50)  # a file sorted by class
    _, y_te = train_test_split(y, test_size=0.2, seed=0)
    assert 0 < y_te.sum() < y_te.size  # both classes, not the tail of class 1


def test_deterministic_by_seed_and_manual_seed():
    a = split_indices(30, seed=4)
    b = split_indices(30, seed=4)
    c = split_indices(30, seed=5)
    assert np.array_equal(a[1], b[1]) and not np.array_equal(a[1], c[1])
    cr.manual_seed(9)
    d = split_indices(30)
    cr.manual_seed(9)
    e = split_indices(30)
    assert np.array_equal(d[1], e[1])


def test_stratified_keeps_proportions():
    y = np.repeat(np.array(["a", "b", "c"]), [60, 30, 10])
    rng = np.random.default_rng(0)
    y = y[rng.permutation(y.size)]
    train, test = split_indices(y.size, test_size=0.2, seed=3, stratify=y)
    assert test.size == 20
    counts = {c: int((y[test] == c).sum()) for c in "abc"}
    assert counts == {"a": 12, "b": 6, "c": 2}
    assert {c: int((y[train] == c).sum()) for c in "abc"} == {"a": 48, "b": 24, "c": 8}


def test_stratified_puts_every_class_with_two_members_on_both_sides():
    y = np.array([0] * 40 + [1] * 2 + [2] * 3 + [3])
    train, test = split_indices(y.size, test_size=0.1, seed=0, stratify=y)
    assert test.size == 5  # ceil(0.1 * 46)
    for c in (0, 1, 2):
        assert c in y[train] and c in y[test]
    assert 3 in y[train] and 3 not in y[test]  # a singleton cannot be on both sides
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(y.size))


def test_stratified_impossible_and_empty_parts_raise():
    y = np.repeat(np.arange(5), 4)
    with pytest.raises(DataError, match="cannot stratify"):
        split_indices(y.size, test_size=2, seed=0, stratify=y)
    with pytest.raises(DataError, match="both parts must be non-empty"):
        split_indices(5, test_size=5)
    with pytest.raises(DataError, match="both parts must be non-empty"):
        split_indices(1, test_size=0.5)
    with pytest.raises(ValueError, match="test_size"):
        split_indices(10, test_size=1.5)
    with pytest.raises(DataError, match=r"same number of rows, got \[10, 9\]"):
        train_test_split(np.zeros(10), np.zeros(9))


def test_table_is_split_into_tables():
    table = load_dataset("moons", seed=0)
    train, test = train_test_split(table, test_size=0.25, seed=0, stratify=table.y)
    assert len(train) == 150 and len(test) == 50
    assert train.classes == table.classes and test.feature_names == table.feature_names
    assert np.bincount(test.y).tolist() == [25, 25]
