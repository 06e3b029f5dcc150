"""Streaming a memory-mapped file costs memory in proportion to the batch, not the file."""

import tracemalloc

import numpy as np

from chainrule.data import DataLoader, StandardScaler, read_npy

ROWS, COLS, BATCH = 65_536, 256, 256  # a 64 MiB float32 file, 256 KiB batches
LIMIT = 8 * 2**20


def _write_file(path):
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(ROWS, COLS))
    for start in range(0, ROWS, 4096):  # row i holds the value i
        mm[start:start + 4096] = np.arange(start, start + 4096, dtype=np.float32)[:, None]
    mm.flush()
    del mm


def test_streaming_a_memmap_is_bounded_by_the_batch(tmp_path):
    path = tmp_path / "big.npy"
    _write_file(path)
    tracemalloc.start()
    try:
        table = read_npy(path)  # includes the NaN/inf scan of the whole file
        assert isinstance(table.X, np.memmap)
        scaler = StandardScaler().fit(table.X)
        loader = DataLoader(table, batch_size=BATCH, seed=0, transform=scaler.transform)
        rows, first_column = 0, 0.0
        for (xb,) in loader:
            assert xb.shape == (BATCH, COLS)
            rows += xb.shape[0]
            first_column += float(xb.data[:, 0].astype(np.float64).sum())
        _, peak = tracemalloc.get_traced_memory()

        tracemalloc.reset_peak()  # control: materialising the file is seen by tracemalloc
        whole = np.array(table.X)
        _, control_peak = tracemalloc.get_traced_memory()
        del whole
    finally:
        tracemalloc.stop()
    assert rows == ROWS
    assert abs(first_column) < 1.0  # every row once, standardised: the column sums to ~0
    assert peak < LIMIT, f"peak {peak / 2**20:.1f} MiB while streaming a 64 MiB file"
    assert control_peak > 60 * 2**20
