"""Images as data: the (C, H, W) shape of image arrays and of the built-in image datasets.

Image arrays arrive as (N, H, W) (one channel) or (N, C, H, W) from ``.npy``/``.npz``,
or flattened as (N, C*H*W) (a CSV, the built-in ``digits``) with a known shape. The
CLI keeps every array flat (so scaling, splits, CSV prediction and ONNX pipelines stay
tabular) and a convolutional model starts with ``nn.Unflatten(1, (C, H, W))``.
"""

from __future__ import annotations

import math
from typing import cast

from ..errors import DataError

#: Built-in datasets whose rows are images: name -> (C, H, W).
DATASET_IMAGE_SHAPES: dict[str, tuple[int, int, int]] = {"digits": (1, 8, 8)}


def parse_shape(text: str, what: str = "--input-shape") -> tuple[int, ...]:
    """'1,8,8' (or '8x8', '8,8') as a tuple of positive ints; (H, W) becomes (1, H, W)."""
    try:
        dims = tuple(int(v) for v in str(text).replace("x", ",").split(",") if v.strip())
    except ValueError:
        dims = ()
    if len(dims) not in (2, 3) or min(dims) < 1:
        raise DataError(f"{what}: expected C,H,W or H,W with positive integers, got {text!r}")
    return dims if len(dims) == 3 else (1,) + dims


def image_shape(shape: tuple[int, ...], input_shape: tuple[int, ...] | None = None,
                dataset: str | None = None, source: str = "the data") -> tuple[int, int, int]:
    """The (C, H, W) of the samples of an array of ``shape``.

    Parameters
    ----------
    shape : tuple of int
        The array's shape: (N, H, W), (N, C, H, W), or (N, F) for flattened images.
    input_shape : tuple of int, optional
        (C, H, W) or (H, W) given by the user; required for flattened images unless
        ``dataset`` names a built-in image dataset.
    dataset : str, optional
        A built-in dataset name (see :data:`DATASET_IMAGE_SHAPES`).
    source : str
        Named in error messages.

    Raises
    ------
    DataError
        When the shape cannot be inferred or does not match ``input_shape``.
    """
    if input_shape is not None:
        input_shape = tuple(input_shape)
        if len(input_shape) == 2:
            input_shape = (1,) + input_shape
    n_dims = len(shape) - 1
    inferred: tuple[int, ...] | None
    if n_dims == 2:
        inferred = (1,) + tuple(shape[1:])
    elif n_dims == 3:
        inferred = tuple(shape[1:])
    elif n_dims == 1:
        inferred = input_shape or (DATASET_IMAGE_SHAPES.get(dataset) if dataset else None)
        if inferred is None:
            raise DataError(f"{source}: rows of {shape[1]} features are not images of a known "
                            f"shape; pass --input-shape C,H,W (or H,W) with C*H*W = {shape[1]}")
        if math.prod(inferred) != shape[1]:
            raise DataError(f"{source}: --input-shape {','.join(map(str, inferred))} holds "
                            f"{math.prod(inferred)} values but each row has {shape[1]}")
        return cast("tuple[int, int, int]", tuple(int(v) for v in inferred))
    else:
        raise DataError(f"{source}: image data must have shape (N, H, W), (N, C, H, W) or "
                        f"(N, C*H*W), got {tuple(shape)}")
    if input_shape is not None and input_shape != inferred:
        raise DataError(f"{source}: --input-shape {','.join(map(str, input_shape))} does not "
                        f"match the images' shape {','.join(map(str, inferred))}")
    return cast("tuple[int, int, int]", tuple(int(v) for v in inferred))
