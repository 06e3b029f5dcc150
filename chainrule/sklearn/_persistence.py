"""The estimators' files: ``save`` / ``load`` (a chainrule model file, no pickle) and
``to_onnx``, as a mixin of the estimators' base class.

Loading trusts nothing in the file: only known parameter names are accepted, they are
validated by scikit-learn's constraints, and class labels must be plain numbers or strings.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..errors import ModelFileError
from ..io import load_with_metadata, save


def _encode_labels(classes):
    """``classes_`` as JSON: the values and the dtype (object arrays: of strings only)."""
    if classes.dtype.kind == "O" and not all(isinstance(c, str) for c in classes):
        raise ValueError("cannot save class labels that are Python objects other than "
                         "strings; convert them to a NumPy dtype (numbers or strings)")
    return {"values": classes.tolist(), "dtype": classes.dtype.str}


def _decode_labels(c):
    """The inverse of :func:`_encode_labels`, for values read from an untrusted file."""
    dtype = np.dtype(str(c["dtype"])[:8])
    values = list(c["values"])
    if dtype.kind == "O":
        if not all(isinstance(v, str) for v in values):
            raise ValueError("class labels of object dtype must be strings")
    elif dtype.kind not in "biufU" or dtype.itemsize > 1024:
        raise ValueError(f"unsupported class label dtype {dtype}")
    if dtype.kind == "O":
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out
    return np.asarray(values, dtype=dtype)


class _PersistenceMixin:
    """``save``, ``load`` and ``to_onnx`` of a fitted estimator (see ``_BaseNeuralNet``)."""

    def save(self, path):
        """Save the network and what predicting needs to a chainrule model file.

        The file is ``cr.save(self.model_, path)`` (safetensors + JSON, no pickle)
        with the estimator's parameters, ``classes_``, ``n_features_in_`` and
        ``feature_names_in_`` as metadata; :meth:`load` reads it back.

        Parameters
        ----------
        path : str or PathLike
        """
        check_is_fitted(self)
        params = {k: (v.tolist() if isinstance(v, np.ndarray) else v)
                  for k, v in self.get_params().items()}
        if not isinstance(params["random_state"], (int, type(None))):
            params["random_state"] = None
        if params["dtype"] is not None:
            params["dtype"] = np.dtype(params["dtype"]).name
        if isinstance(params.get("class_weight"), dict):
            params["class_weight"] = [[k, v] for k, v in params["class_weight"].items()]
        meta = {"estimator": type(self).__name__, "params": params,
                "n_features_in": int(self.n_features_in_), "n_outputs": int(self.n_outputs_),
                "n_iter": int(self.n_iter_), "t": int(self.t_),
                "loss_curve": [float(v) for v in self.loss_curve_]}
        if hasattr(self, "feature_names_in_"):
            meta["feature_names_in"] = [str(v) for v in self.feature_names_in_]
        if hasattr(self, "classes_"):
            meta["classes"] = _encode_labels(self.classes_)
        save(self.model_, path, metadata=meta)

    def to_onnx(self, path, opset=17):
        """Write the fitted network and its head as an ONNX file (``chainrule[onnx]``).

        Input ``features`` (n_samples, n_features_in_) in the network's dtype; outputs
        ``label`` and ``probabilities`` (columns in ``classes_`` order), or
        ``prediction``: what :meth:`predict` (and ``predict_proba``) return.

        Parameters
        ----------
        path : str or PathLike
        opset : int, default 17

        Returns
        -------
        onnx.ModelProto
        """
        from ..onnx import export_pipeline

        check_is_fitted(self)
        head = self._head()
        meta = {"estimator": type(self).__name__}
        if hasattr(self, "feature_names_in_"):
            meta["feature_names"] = [str(v) for v in self.feature_names_in_]
        return export_pipeline(self.model_, path, n_features=int(self.n_features_in_),
                               head=head.name, n_outputs=head.n_outputs,
                               classes=getattr(self, "classes_", None), opset=opset,
                               dtype=self._model_dtype(), metadata=meta)

    @classmethod
    def load(cls, path):
        """Rebuild an estimator written by :meth:`save`, ready to predict.

        Training further (``partial_fit``, ``warm_start``) starts a fresh optimizer state.

        Parameters
        ----------
        path : str or PathLike

        Returns
        -------
        estimator : NeuralNetClassifier or NeuralNetRegressor
        """
        model, meta = load_with_metadata(path)
        try:
            return cls._from_metadata(model, meta)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            if isinstance(e, ModelFileError):
                raise
            raise ModelFileError(f"{path}: not a valid {cls.__name__} file "
                                 f"({type(e).__name__}: {str(e)[:120]})") from None

    @classmethod
    def _from_metadata(cls, model, meta):
        # NOTE: every value below comes from the file: only known parameter names are
        # accepted, they are validated by scikit-learn's constraints, and the class
        # labels' dtype must be a plain number or string type.
        if meta.get("estimator") != cls.__name__:
            raise ValueError(f"it holds a {meta.get('estimator')!r}, not a {cls.__name__}")
        params = dict(meta["params"])
        unknown = set(params) - set(cls().get_params())
        if unknown:
            raise ValueError(f"unknown parameters {sorted(unknown)[:5]}")
        if isinstance(params.get("class_weight"), list):
            params["class_weight"] = {k: v for k, v in params["class_weight"]}
        est = cls(**params)
        est._validate_params()
        est.model_ = model
        est.n_features_in_ = int(meta["n_features_in"])
        est.n_outputs_ = int(meta["n_outputs"])
        est.n_layers_ = len(est._check_hidden()) + 2
        est.out_activation_ = est._out_activation(est.n_outputs_)
        est.n_iter_, est.t_ = int(meta["n_iter"]), int(meta["t"])
        est.loss_curve_ = [float(v) for v in meta["loss_curve"]]
        est.loss_ = est.loss_curve_[-1] if est.loss_curve_ else None
        est._no_improvement_count = 0
        est.validation_scores_ = [] if est.early_stopping else None
        est.best_validation_score_ = -np.inf if est.early_stopping else None
        est.best_loss_ = None if est.early_stopping else min(est.loss_curve_, default=np.inf)
        if "feature_names_in" in meta:
            est.feature_names_in_ = np.asarray([str(v) for v in meta["feature_names_in"]],
                                               dtype=object)
        if "classes" in meta:
            est.classes_ = _decode_labels(meta["classes"])
        return est
