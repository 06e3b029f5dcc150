"""chainrule with its training step captured (``cr.compile``); inference as fw_chainrule."""

from __future__ import annotations

import fw_chainrule
from fw_chainrule import info, predictor  # noqa: F401 (the worker's interface)


def trainer(arch, sizes, x, y, optimizer="sgd", lr=0.01):
    return fw_chainrule.trainer(arch, sizes, x, y, optimizer, lr, compiled=True)
