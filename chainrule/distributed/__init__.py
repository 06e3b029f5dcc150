"""Data-parallel training over MPI (mpi4py): the primitives the training loop calls.

Start the same program on N processes (``mpiexec -n 4 python train.py`` or
``mpiexec -n 4 chainrule train ...``); :func:`init` joins the world, rank 0's
initial weights are broadcast, each rank takes its share of every global minibatch
(``DataLoader(num_replicas=, rank=)``), and the gradients are averaged over the
ranks with one Allreduce per step (:class:`GradientAllreduce`), so every rank
takes the same step as one process with the whole global batch would. Only rank 0
writes files (:func:`main_only`).

Without mpi4py, or with one process, everything here works and does nothing:
``rank() == 0``, ``world_size() == 1``. ``import chainrule`` never imports mpi4py.

>>> from chainrule import distributed as dist
>>> dist.init()          # 1 under plain python; N under mpiexec -n N
1
"""

from .collectives import (
    GradientAllreduce,
    all_reduce,
    barrier,
    broadcast_json,
    broadcast_parameters,
)
from .files import main_only
from .world import (
    DEFAULT_TIMEOUT,
    abort,
    comm,
    init,
    is_initialized,
    is_main,
    launched_size,
    rank,
    timeout,
    world_size,
)

__all__ = [
    "init", "is_initialized", "rank", "world_size", "is_main", "launched_size", "timeout",
    "comm", "abort", "barrier", "broadcast_parameters", "broadcast_json", "all_reduce",
    "GradientAllreduce", "main_only", "DEFAULT_TIMEOUT",
]
