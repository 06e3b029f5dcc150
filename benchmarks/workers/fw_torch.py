"""PyTorch CPU, float32, 2 threads (the default on this machine), eager mode: the idiomatic loop."""

from __future__ import annotations

import common as C
import torch
import torch.nn.functional as F
from common import SEED
from torch import nn

torch.set_num_threads(2)


def info():
    cfg = torch.__config__.parallel_info().splitlines()
    blas = [line.strip() for line in cfg if "Math Kernel" in line or "MKL-DNN" in line]
    return {"torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "torch_blas": blas, "torch_mkl": torch.backends.mkl.is_available()}


class Residual(nn.Module):
    def __init__(self, block):
        super().__init__()
        self.block = block

    def forward(self, x):
        return x + self.block(x)


def build(arch, sizes):
    torch.manual_seed(SEED)
    if arch == "residual":
        return C.residual_net(nn, Residual, sizes[0], sizes[-1])
    return C.mlp(nn, sizes)


def trainer(arch, sizes, x, y, optimizer="sgd", lr=0.01):
    model = build(arch, sizes)
    opt = (torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam)(model.parameters(), lr=lr)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    return C.train_step(model, opt, F.cross_entropy, xt, yt)


def predictor(arch, sizes, x):
    model = build(arch, sizes)
    model.eval()
    xt = torch.from_numpy(x)
    return C.forward_fn(model, xt, torch.no_grad)


def gemm_call(a, b):
    """One call of the product ``a @ b`` into a preallocated result (PyTorch's BLAS, MKL)."""
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)  # transposed views keep their strides
    out = torch.empty((a.shape[0], b.shape[1]), dtype=torch.float32)
    return lambda: torch.mm(ta, tb, out=out)
