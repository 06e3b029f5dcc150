"""Image shapes: inferred from (N, H, W) / (N, C, H, W), given for flat rows, built-in digits."""

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.data import image_shape, load_dataset, parse_shape
from chainrule.errors import DataError


def test_image_shape_is_inferred_or_given():
    assert image_shape((10, 5, 7)) == (1, 5, 7)
    assert image_shape((10, 3, 5, 7)) == (3, 5, 7)
    assert image_shape((10, 64), dataset="digits") == (1, 8, 8)
    assert image_shape((10, 12), input_shape=(3, 2, 2)) == (3, 2, 2)
    assert image_shape((10, 12), input_shape=(4, 3)) == (1, 4, 3)
    with pytest.raises(DataError, match="--input-shape C,H,W"):
        image_shape((10, 12), source="x.csv")
    with pytest.raises(DataError, match="holds 9 values but each row has 12"):
        image_shape((10, 12), input_shape=(3, 3))
    with pytest.raises(DataError, match="does not match"):
        image_shape((10, 3, 5, 7), input_shape=(1, 5, 7))
    with pytest.raises(DataError, match=r"\(N, H, W\)"):
        image_shape((10, 1, 2, 3, 4))


def test_parse_shape():
    assert parse_shape("1,8,8") == (1, 8, 8)
    assert parse_shape("28x28") == (1, 28, 28)
    for bad in ("8", "a,b", "0,8,8", "1,2,3,4"):
        with pytest.raises(DataError, match="--input-shape"):
            parse_shape(bad)


def test_digits_as_images():
    pytest.importorskip("sklearn")
    flat = load_dataset("digits")
    img = load_dataset("digits", images=True)
    assert img.X.shape == (1797, 1, 8, 8)
    np.testing.assert_array_equal(img.X.reshape(1797, 64), flat.X)
    with pytest.raises(DataError, match="not an image dataset"):
        load_dataset("iris", images=True)


def test_unflatten_is_the_inverse_of_flatten():
    x = cr.randn(4, 12)
    y = nn.Unflatten(1, (3, 2, 2))(x)
    assert y.shape == (4, 3, 2, 2)
    np.testing.assert_array_equal(nn.Flatten()(y).numpy(), x.numpy())
    with pytest.raises(ValueError, match="holds 8"):
        nn.Unflatten(1, (2, 2, 2))(x)
