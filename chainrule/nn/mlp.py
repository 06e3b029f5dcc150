"""MLP: the multi-layer perceptron that the CLI, ``fit`` and the estimators train.

``MLP(4, [64, 64], 3)`` is a :class:`~chainrule.nn.Sequential` of
``Linear -> [BatchNorm1d] -> activation -> [Dropout]`` per hidden layer and a
last ``Linear``. Being a Sequential, its parameters are named ``0.weight``,
``0.bias``, ... exactly like the Sequential that older chainrule versions built
and saved, so those model files still load (as a Sequential) and their
weights fit an MLP of the same arguments. A model file of an MLP records only
its constructor arguments.
"""

from __future__ import annotations

from .activation import ELU, GELU, LeakyReLU, ReLU, Sigmoid, Tanh
from .layers import BatchNorm1d, Dropout, Identity, Linear, Residual, Sequential
from .module import _size

ACTIVATIONS = {"relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid, "gelu": GELU, "elu": ELU,
               "leaky_relu": LeakyReLU, "identity": Identity}


class MLP(Sequential):
    """A multi-layer perceptron ``Linear -> [BatchNorm] -> act -> [Dropout]`` per hidden layer.

    Parameters
    ----------
    in_features : int
        Width of the input.
    hidden : sequence of int
        Widths of the hidden layers (may be empty: a linear model).
    out_features : int
        Width of the output (a head's ``n_outputs``).
    activation : str, default 'relu'
        One of ``ACTIVATIONS``.
    dropout : float, default 0.0
        Drop probability after each hidden activation.
    batch_norm : bool, default False
        Batch normalisation before each hidden activation.
    residual : bool, default False
        Wrap each hidden layer whose input and output widths agree in ``Residual``.

    Examples
    --------
    >>> model = cr.nn.MLP(4, [8, 8], 3, activation="tanh")
    >>> model(cr.randn(5, 4)).shape
    (5, 3)
    """

    def __init__(self, in_features: int, hidden=(), out_features: int = 1,
                 activation: str = "relu", dropout: float = 0.0, batch_norm: bool = False,
                 residual: bool = False):
        if activation not in ACTIVATIONS:
            raise ValueError(f"MLP: activation must be one of {sorted(ACTIVATIONS)}, got "
                             f"{activation!r}")
        layers = []
        width = in_features
        for h in hidden:
            block = [Linear(width, h)]
            if batch_norm:
                block.append(BatchNorm1d(h))
            block.append(ACTIVATIONS[activation]())
            if dropout:
                block.append(Dropout(dropout))
            if residual and width == h:
                layers.append(Residual(Sequential(*block)))
            else:
                layers.extend(block)
            width = h
        layers.append(Linear(width, out_features))
        super().__init__(*layers)

    @classmethod
    def _parameter_count(cls, in_features, hidden=(), out_features=1, activation="relu",
                         dropout=0.0, batch_norm=False, residual=False):
        """Weights, biases and batch-norm statistics the constructor allocates (the one
        count of an MLP's size; ``chainrule.train.tables.mlp_parameter_count`` reads it)."""
        hidden = [_size(h, "hidden", cls.__name__) for h in hidden]
        sizes = [_size(in_features, "in_features", cls.__name__), *hidden,
                 _size(out_features, "out_features", cls.__name__)]
        n = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))
        return n + (4 * sum(hidden) if batch_norm else 0)

    def append(self, module):
        raise TypeError("MLP.append: an MLP is defined by its arguments; build a "
                        "nn.Sequential(*mlp, module) to extend it")
