"""chainrule.nn: modules, layers, losses and initialisation, shaped like ``torch.nn``."""

from . import init
from .activation import ELU, GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .cnn import CNN, ResidualBlock, ResNet
from .conv import Conv1d, Conv2d
from .layers import (
    BatchNorm1d,
    BatchNorm2d,
    Dropout,
    Flatten,
    Identity,
    LayerNorm,
    Linear,
    Residual,
    Sequential,
    Unflatten,
)
from .loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
)
from .mlp import MLP
from .module import LAYER_REGISTRY, Module, Parameter
from .pooling import AdaptiveAvgPool2d, AvgPool1d, AvgPool2d, MaxPool1d, MaxPool2d

__all__ = [
    "Module", "Parameter", "LAYER_REGISTRY", "init",
    "Linear", "Sequential", "Residual", "Identity", "Flatten", "Dropout", "BatchNorm1d",
    "LayerNorm", "MLP", "Conv1d", "Conv2d", "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d",
    "AdaptiveAvgPool2d", "BatchNorm2d", "CNN", "ResidualBlock", "ResNet",
    "Unflatten",
    "ReLU", "LeakyReLU", "ELU", "GELU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax",
    "MSELoss", "L1Loss", "HuberLoss", "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss",
    "NLLLoss",
]
