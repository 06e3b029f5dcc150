"""PyTorch CPU, float32, 2 threads (the default on this machine), eager mode: the idiomatic loop."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from common import RESIDUAL_BLOCKS, RESIDUAL_WIDTH, SEED
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


def _mlp(sizes):
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _residual(d_in, d_out, width=RESIDUAL_WIDTH, blocks=RESIDUAL_BLOCKS):
    body = [Residual(nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width)))
            for _ in range(blocks)]
    return nn.Sequential(nn.Linear(d_in, width), *body, nn.Linear(width, d_out))


def build(arch, sizes):
    torch.manual_seed(SEED)
    if arch == "residual":
        return _residual(sizes[0], sizes[-1])
    return _mlp(sizes)


def trainer(arch, sizes, x, y, optimizer="sgd", lr=0.01):
    model = build(arch, sizes)
    if optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=lr)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=lr)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def step(s, e):
        opt.zero_grad()
        loss = F.cross_entropy(model(xt[s:e]), yt[s:e])
        loss.backward()
        opt.step()

    return step


def predictor(arch, sizes, x):
    model = build(arch, sizes)
    model.eval()
    xt = torch.from_numpy(x)

    def forward(s, e):
        with torch.no_grad():
            return model(xt[s:e])

    return forward


def gemm_call(a, b):
    """One call of the product ``a @ b`` into a preallocated result (PyTorch's BLAS, MKL)."""
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)  # transposed views keep their strides
    out = torch.empty((a.shape[0], b.shape[1]), dtype=torch.float32)
    return lambda: torch.mm(ta, tb, out=out)
