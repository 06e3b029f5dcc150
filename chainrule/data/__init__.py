"""Data: datasets, the DataLoader, file readers, splits, scaling and built-in datasets.

>>> from chainrule.data import DataLoader, load_dataset, train_test_split, StandardScaler
>>> table = load_dataset("spirals")
>>> X_tr, X_te, y_tr, y_te = train_test_split(table.X, table.y, seed=0, stratify=table.y)
>>> scaler = StandardScaler().fit(X_tr)
>>> loader = DataLoader(ArrayDataset(X_tr, y_tr), batch_size=32, seed=0,
...                     transform=scaler.transform)
>>> for xb, yb in loader:      # one epoch
...     pass
"""

from .dataset import ArrayDataset, Dataset, Subset
from .datasets import DatasetInfo, list_datasets, load_dataset
from .dialect import MISSING_VALUES, Dialect
from .frame import Column, Frame
from .images import DATASET_IMAGE_SHAPES, image_shape, parse_shape
from .loader import DataLoader
from .preprocessing import StandardScaler
from .readers import (
    SUPPORTED_EXTENSIONS,
    read_csv,
    read_frame,
    read_npy,
    read_parquet,
    read_table,
)
from .split import split_indices, train_test_split
from .table import Table
from .tabular import DataWarning, TablePreprocessor, detect_task

__all__ = [
    "Dataset", "ArrayDataset", "Subset", "DataLoader", "Table",
    "read_csv", "read_parquet", "read_npy", "read_table", "SUPPORTED_EXTENSIONS",
    "read_frame", "Frame", "Column", "Dialect", "MISSING_VALUES",
    "TablePreprocessor", "DataWarning", "detect_task",
    "train_test_split", "split_indices", "StandardScaler",
    "load_dataset", "list_datasets", "DatasetInfo",
    "image_shape", "parse_shape", "DATASET_IMAGE_SHAPES",
]
