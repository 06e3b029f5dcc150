"""Convolutional networks built from arguments: CNN, ResidualBlock and ResNet.

Like :class:`~chainrule.nn.MLP`, each is defined by its constructor arguments,
so a model file records only those; the CLI's ``--model cnn`` builds a
:class:`CNN`.
"""

from __future__ import annotations

from .. import functional as F
from .activation import ReLU
from .conv import Conv2d
from .layers import BatchNorm2d, Dropout, Flatten, Identity, Linear, Sequential
from .module import Module, _size
from .pooling import AdaptiveAvgPool2d, MaxPool2d


def _ints(value, name, owner):
    value = [value] if isinstance(value, int) else list(value)
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value):
        raise ValueError(f"{owner}: {name} must be positive integers, got {value!r}")
    return value


class CNN(Sequential):
    """A small convolutional classifier: ``[Conv3x3 -> BatchNorm -> ReLU -> MaxPool2]`` per
    entry of ``channels``, then ``Flatten -> Linear(hidden) -> ReLU -> [Dropout] -> Linear``.

    Parameters
    ----------
    in_channels : int
        Channels of the input images (1 for grey levels).
    out_features : int
        Width of the output (number of classes, or a head's ``n_outputs``).
    input_size : (int, int)
        Height and width of the input images (fixes the first Linear's width).
    channels : sequence of int, default (16, 32)
        Output channels of each convolution block; a block halves H and W (a side
        of 1 is left as it is).
    hidden : int, default 64
        Width of the hidden Linear layer (0: none).
    batch_norm : bool, default True
    dropout : float, default 0.0
        Drop probability before the last Linear.

    Examples
    --------
    >>> model = cr.nn.CNN(1, 10, (8, 8))          # the CLI's default for digits
    >>> model(cr.randn(4, 1, 8, 8)).shape
    (4, 10)
    """

    def __init__(self, in_channels: int, out_features: int, input_size=(28, 28),
                 channels=(16, 32), hidden: int = 64, batch_norm: bool = True,
                 dropout: float = 0.0):
        in_channels, out_features = _ints([in_channels, out_features], "channels", "CNN")
        h, w = _ints(input_size, "input_size", "CNN")
        layers = []
        width = in_channels
        for c in _ints(channels, "channels", "CNN"):
            layers.append(Conv2d(width, c, 3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(BatchNorm2d(c))
            layers.append(ReLU())
            if h > 1 or w > 1:
                layers.append(MaxPool2d((2 if h > 1 else 1, 2 if w > 1 else 1)))
                h, w = max(h // 2, 1), max(w // 2, 1)
            width = c
        layers.append(Flatten())
        features = width * h * w
        if hidden:
            layers += [Linear(features, hidden), ReLU()]
            features = hidden
        if dropout:
            layers.append(Dropout(dropout))
        layers.append(Linear(features, out_features))
        super().__init__(*layers)

    @classmethod
    def _parameter_count(cls, in_channels, out_features, input_size=(28, 28), channels=(16, 32),
                         hidden=64, batch_norm=True, dropout=0.0):
        """Weights and buffers the constructor allocates (see :meth:`Module._parameter_count`)."""
        width, out_features = _ints([in_channels, out_features], "channels", "CNN")
        h, w = _ints(input_size, "input_size", "CNN")
        total = 0
        for c in _ints(channels, "channels", "CNN"):
            # the convolution's weight, then its bias or the batch norm's 2 params + 2 buffers
            total += width * c * 9 + (4 * c if batch_norm else c)
            if h > 1 or w > 1:
                h, w = max(h // 2, 1), max(w // 2, 1)
            width = c
        features = width * h * w
        if _size(hidden, "hidden", "CNN", minimum=0):
            total += features * hidden + hidden
            features = hidden
        return total + features * out_features + out_features

    def append(self, module):
        raise TypeError("CNN.append: a CNN is defined by its arguments; build a "
                        "nn.Sequential(*cnn, module) to extend it")


class ResidualBlock(Module):
    """He et al.'s basic block: ``relu(bn(conv(relu(bn(conv(x))))) + shortcut(x))``.

    Parameters
    ----------
    in_channels : int
    out_channels : int, optional
        Defaults to ``in_channels``.
    stride : int, default 1
        Stride of the first 3x3 convolution. When it is not 1 or the channels
        change, the shortcut is a 1x1 convolution and batch norm; otherwise it is
        the identity, and backpropagation adds the gradient of both paths.
    """

    def __init__(self, in_channels: int, out_channels: int | None = None, stride: int = 1):
        super().__init__()
        out_channels = in_channels if out_channels is None else out_channels
        self.conv1 = Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = BatchNorm2d(out_channels)
        self.conv2 = Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = BatchNorm2d(out_channels)
        if stride != 1 or in_channels != out_channels:
            self.shortcut = Sequential(
                Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                BatchNorm2d(out_channels))
        else:
            self.shortcut = Identity()

    @classmethod
    def _parameter_count(cls, in_channels, out_channels=None, stride=1):
        """Weights and buffers the constructor allocates (see :meth:`Module._parameter_count`)."""
        out_channels = in_channels if out_channels is None else out_channels
        i = _size(in_channels, "in_channels", cls.__name__)
        o = _size(out_channels, "out_channels", cls.__name__)
        total = i * o * 9 + 4 * o + o * o * 9 + 4 * o  # conv1, bn1, conv2, bn2
        if stride != 1 or in_channels != out_channels:
            total += i * o + 4 * o  # the 1x1 convolution and batch norm of the shortcut
        return total

    def forward(self, x):
        h = self.bn1(self.conv1(x)).relu()
        h = self.bn2(self.conv2(h))
        return F.relu(h + self.shortcut(x))


class ResNet(Sequential):
    """A ResNet for small images: a 3x3 stem, ``blocks`` residual blocks, global average
    pooling and a Linear classifier.

    Parameters
    ----------
    in_channels : int
    out_features : int
    blocks : int, default 8
        Number of :class:`ResidualBlock`.
    width : int, default 16
        Channels of the stem and of the first stage.
    downsample_every : int, default 0
        Every this many blocks, halve H and W and double the channels (0: never).

    Examples
    --------
    >>> model = cr.nn.ResNet(1, 10, blocks=8, width=8)
    >>> model(cr.randn(2, 1, 8, 8)).shape
    (2, 10)
    """

    def __init__(self, in_channels: int, out_features: int, blocks: int = 8, width: int = 16,
                 downsample_every: int = 0):
        layers = [Conv2d(in_channels, width, 3, padding=1, bias=False), BatchNorm2d(width),
                  ReLU()]
        c = width
        for i in range(blocks):
            if downsample_every and i and i % downsample_every == 0:
                layers.append(ResidualBlock(c, 2 * c, stride=2))
                c *= 2
            else:
                layers.append(ResidualBlock(c))
        layers += [AdaptiveAvgPool2d(1), Flatten(), Linear(c, out_features)]
        super().__init__(*layers)

    @classmethod
    def _parameter_count(cls, in_channels, out_features, blocks=8, width=16,
                         downsample_every=0):
        """Weights and buffers the constructor allocates (see :meth:`Module._parameter_count`)."""
        name = cls.__name__
        c = _size(width, "width", name)
        total = _size(in_channels, "in_channels", name) * c * 9 + 4 * c  # stem
        n = _size(blocks, "blocks", name, minimum=0)
        if isinstance(downsample_every, bool) or not isinstance(downsample_every, int):
            raise ValueError(f"{name}: downsample_every must be an integer, got "
                             f"{downsample_every!r}")
        d = abs(downsample_every)  # block i > 0 downsamples when d divides i
        # NOTE: stage by stage, not block by block: a hostile file's blocks=10**4000 counts
        # at once, and its doubling channels pass any memory within 64 stages.
        if not d or n <= d:
            return total + n * ResidualBlock._parameter_count(c) + cls._head(c, out_features)
        total += d * ResidualBlock._parameter_count(c)
        n -= d
        while n > 0 and not total >> 64:
            total += ResidualBlock._parameter_count(c, 2 * c, stride=2)
            c *= 2
            m = min(n, d)
            total += (m - 1) * ResidualBlock._parameter_count(c)
            n -= m
        return total + cls._head(c, out_features)

    @classmethod
    def _head(cls, c, out_features):
        out_features = _size(out_features, "out_features", cls.__name__)
        return c * out_features + out_features

    def append(self, module):
        raise TypeError("ResNet.append: a ResNet is defined by its arguments; build a "
                        "nn.Sequential(*resnet, module) to extend it")
