"""Feature scaling. Statistics are accumulated chunk by chunk, so fitting a memmap
reads it once without loading it, and the state is plain arrays saved with the model."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from ..errors import DataError

_CHUNK = 1 << 17  # elements per chunk: 1 MB of float64, so fitting a memmap stays small


def _rows_per_chunk(X: np.ndarray) -> int:
    return max(1, _CHUNK // max(1, int(np.prod(X.shape[1:]))))


def _check_2d(X: npt.ArrayLike, who: str) -> np.ndarray:
    X = X if isinstance(X, np.ndarray) else np.asarray(X)
    if X.ndim < 2:
        raise DataError(f"StandardScaler.{who}: X must have shape (n_samples, n_features), "
                        f"got {X.shape}")
    if X.dtype.kind not in "biuf":
        raise DataError(f"StandardScaler.{who}: X must be numeric, got dtype {X.dtype}")
    return X


class StandardScaler:
    """Standardise features: ``(X - mean_) / scale_``, statistics per feature.

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,), float64
    var_ : ndarray of shape (n_features,), float64
        Population variance (ddof=0), as scikit-learn's.
    scale_ : ndarray of shape (n_features,), float64
        ``sqrt(var_)``, with 1 for (numerically) constant features so they map to 0.
    n_samples_seen_ : int

    Examples
    --------
    >>> from chainrule.data import ArrayDataset, DataLoader
    >>> scaler = StandardScaler().fit(X_train)
    >>> loader = DataLoader(ArrayDataset(X_train, y_train), transform=scaler.transform)
    >>> state = scaler.state_dict()          # plain arrays, saved with the model
    >>> X_test_scaled = StandardScaler.from_state_dict(state).transform(X_test)
    """

    def __init__(self) -> None:
        self.mean_: np.ndarray | None = None
        self.var_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None
        self.n_samples_seen_ = 0

    def fit(self, X: npt.ArrayLike) -> StandardScaler:
        """Compute ``mean_`` and ``scale_`` of ``X``.

        Parameters
        ----------
        X : ndarray or np.memmap of shape (n_samples, n_features)
            Read in chunks (float64 accumulation, Chan's parallel update).

        Returns
        -------
        self
        """
        X = _check_2d(X, "fit")
        if X.shape[0] == 0:
            raise DataError("StandardScaler.fit: X has no rows")
        count = 0
        mean = np.zeros(X.shape[1:])
        m2 = np.zeros(X.shape[1:])
        step = _rows_per_chunk(X)
        for start in range(0, X.shape[0], step):
            c = np.asarray(X[start:start + step], dtype=np.float64)
            k = c.shape[0]
            c_mean = c.mean(axis=0)
            c_m2 = ((c - c_mean) ** 2).sum(axis=0)
            # NOTE: merging two (count, mean, M2) summaries (Chan et al.) keeps the
            # variance exact in float64 without a second pass over the data.
            delta = c_mean - mean
            total = count + k
            mean += delta * (k / total)
            m2 += c_m2 + delta**2 * (count * k / total)
            count = total
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(m2))):
            raise DataError("StandardScaler.fit: X contains NaN or inf")
        var = m2 / count
        scale = np.sqrt(var)
        tiny = 10 * np.finfo(np.float64).eps * np.maximum(np.abs(mean), 1.0)
        scale[scale <= tiny] = 1.0
        self.mean_, self.var_, self.scale_, self.n_samples_seen_ = mean, var, scale, count
        return self

    def _apply(self, X, who, fn):
        if self.mean_ is None:
            raise RuntimeError(f"StandardScaler.{who}: call fit() first")
        X = _check_2d(X, who)
        if X.shape[1:] != self.mean_.shape:
            raise DataError(f"StandardScaler.{who}: X has {X.shape[1:]} features per row, "
                            f"the scaler was fitted on {self.mean_.shape}")
        dtype = np.float64 if X.dtype == np.float64 else np.float32
        mean, scale = self.mean_.astype(dtype), self.scale_.astype(dtype)
        out = np.empty(X.shape, dtype=dtype)
        step = _rows_per_chunk(X)
        for start in range(0, X.shape[0], step):
            out[start:start + step] = fn(np.asarray(X[start:start + step], dtype=dtype),
                                         mean, scale)
        return out

    def transform(self, X: npt.ArrayLike) -> np.ndarray:
        """Standardise ``X``.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            A batch, or a whole array (processed chunk by chunk).

        Returns
        -------
        ndarray of shape (n_samples, n_features)
            float64 for float64 input, float32 otherwise.
        """
        return self._apply(X, "transform", lambda c, m, s: (c - m) / s)

    def fit_transform(self, X: npt.ArrayLike) -> np.ndarray:
        """``fit(X).transform(X)``."""
        return self.fit(X).transform(X)

    def inverse_transform(self, X: npt.ArrayLike) -> np.ndarray:
        """Undo :meth:`transform`: ``X * scale_ + mean_``."""
        return self._apply(X, "inverse_transform", lambda c, m, s: c * s + m)

    def __call__(self, X: npt.ArrayLike) -> np.ndarray:
        return self.transform(X)

    def state_dict(self) -> dict[str, np.ndarray]:
        """The fitted statistics as plain arrays: ``{'mean', 'var', 'scale', 'n_samples_seen'}``."""
        if self.mean_ is None or self.var_ is None or self.scale_ is None:
            raise RuntimeError("StandardScaler.state_dict: call fit() first")
        return {"mean": self.mean_.copy(), "var": self.var_.copy(),
                "scale": self.scale_.copy(),
                "n_samples_seen": np.array(self.n_samples_seen_, dtype=np.int64)}

    @classmethod
    def from_state_dict(cls, state: Mapping[str, npt.ArrayLike]) -> StandardScaler:
        """A fitted scaler from :meth:`state_dict`'s arrays."""
        missing = {"mean", "var", "scale", "n_samples_seen"} - set(state)
        if missing:
            raise DataError(f"StandardScaler.from_state_dict: missing {sorted(missing)}")
        mean, var, scale = (np.asarray(state[k], dtype=np.float64) for k in ("mean", "var",
                                                                              "scale"))
        if not mean.shape == var.shape == scale.shape or np.any(scale <= 0):
            raise DataError("StandardScaler.from_state_dict: mean, var and scale must have "
                            "the same shape, and scale must be positive")
        self = cls()
        self.mean_, self.var_, self.scale_ = mean, var, scale
        self.n_samples_seen_ = int(np.asarray(state["n_samples_seen"]))
        return self

    def __repr__(self) -> str:
        fitted = "unfitted" if self.mean_ is None else f"n_features={self.mean_.size}"
        return f"StandardScaler({fitted})"
