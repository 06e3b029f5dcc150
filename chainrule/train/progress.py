"""A per-epoch progress bar (tqdm) shown only when stderr is a terminal."""

from __future__ import annotations

import sys


class Progress:
    """``update(loss)`` after each step; ``close()`` at the end of the epoch.

    Uses tqdm when it is installed and stderr is a terminal; otherwise does
    nothing (the trainer prints one line per epoch instead).
    """

    def __init__(self, total, epoch, epochs, enabled=True):
        self._bar = None
        if not enabled or not sys.stderr.isatty():
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return
        self._bar = tqdm(total=total, desc=f"epoch {epoch + 1}/{epochs}", leave=False,
                         unit="batch", dynamic_ncols=True)
        self._pending = 0

    @property
    def active(self):
        """True when a bar is shown (tqdm on a terminal)."""
        return self._bar is not None

    def update(self, loss):
        if self._bar is None:
            return
        self._pending += 1
        if self._pending >= 10 or self._bar.n + self._pending >= self._bar.total:
            self._bar.update(self._pending)
            self._bar.set_postfix(loss=f"{loss:.4g}", refresh=False)
            self._pending = 0

    def close(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None
