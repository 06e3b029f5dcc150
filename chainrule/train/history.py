"""History: the per-epoch record of a training run."""

from __future__ import annotations

import math


class History:
    """Per-epoch values (``loss``, ``val_loss``, metrics, ``lr``...), Keras-style.

    ``history.history['val_loss']`` is the list of validation losses;
    ``history.rows`` the same data one dict per epoch.
    """

    def __init__(self, rows=None):
        self.rows = list(rows or [])

    def append(self, row):
        """Add one epoch's values (a mapping name -> number)."""
        self.rows.append(dict(row))

    @property
    def history(self):
        """Name -> list of per-epoch values (NaN where an epoch lacks the name)."""
        keys = []
        for r in self.rows:
            keys.extend(k for k in r if k not in keys)
        return {k: [r.get(k, math.nan) for r in self.rows] for k in keys}

    @property
    def epochs(self):
        """The number of epochs recorded."""
        return len(self.rows)

    def last(self):
        """The last epoch's values (an empty dict before the first)."""
        return dict(self.rows[-1]) if self.rows else {}

    def __getitem__(self, key):
        return self.history[key]

    def __len__(self):
        return len(self.rows)

    def to_csv(self, path):
        """Write one row per epoch, atomically."""
        from ..io.atomic import write_csv

        h = self.history
        keys = list(h)
        write_csv(path, keys, [[r.get(k, "") for k in keys] for r in self.rows])

    def state_dict(self):
        """The rows, for a checkpoint."""
        return {"rows": [dict(r) for r in self.rows]}

    def load_state_dict(self, state):
        """Restore the rows saved by :meth:`state_dict`."""
        self.rows = [dict(r) for r in state["rows"]]

    def __repr__(self):
        return f"History(epochs={self.epochs}, keys={list(self.history)})"
