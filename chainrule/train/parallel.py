"""What the training loop does differently when several MPI ranks train one model.

``Trainer(..., distributed=True)`` keeps one loop; at the points below it asks this
object, which calls the primitives of :mod:`chainrule.distributed`:

- the loader: rank 0's shuffling seed on every rank, and each rank its share of
  every *global* minibatch (``batch_size`` stays the global batch);
- the start: rank 0's initial weights on every rank (a resumed run loads the same
  checkpoint everywhere instead: rank 0 chooses which and broadcasts its path);
- each step: one Allreduce carries the gradients, weighted by each rank's share of
  the loss's denominator (its sample count, or its total sample weight), and the
  step's loss sum, sample count, correct predictions and Ctrl-C flag. The loss of
  a mean over the global batch, and so the gradient, are then those of one
  process with the whole batch, and every rank takes the same decisions
  (divergence, interruption) from the same reduced numbers;
- each epoch: rank 0 evaluates the validation data and broadcasts the epoch's
  logs, so early stopping, convergence and plateau schedules decide identically;
- files: checkpoints (and anything a callback writes through ``is_main``) come
  from rank 0 only.
"""

from __future__ import annotations

import math
import os
import warnings

from .. import distributed as dist
from ..errors import ChainruleError


def data_parallel(loader, distributed):
    """The Trainer's :class:`DataParallel` (with ``loader`` sharded), or None.

    Without ``distributed``, warns when an MPI launcher started several processes:
    each would train a model of its own.
    """
    if distributed:
        parallel = DataParallel()
        parallel.shard(loader)
        return parallel
    if dist.launched_size() > 1:
        warnings.warn(f"fit: this process is one of {dist.launched_size()} started by an MPI "
                      f"launcher, but distributed=False: each trains a model of its own (pass "
                      f"distributed=True to train one model together)", stacklevel=3)
    return None


class DataParallel:
    """The Trainer's link to the MPI world (one rank without MPI: everything passes through)."""

    def __init__(self):
        dist.init()
        self.size = dist.world_size()
        self.rank = dist.rank()
        self.is_main = dist.is_main()
        self.reducer = None

    def shard(self, loader):
        """Same seed everywhere; this rank's share of each global batch."""
        loader.seed = int(dist.broadcast_json(loader.seed))
        if getattr(loader, "generator", None) is not None:  # permutations drawn from it
            loader.generator.bit_generator.state = dist.broadcast_json(
                loader.generator.bit_generator.state)
        loader.shard(self.size, self.rank)

    def resume_path(self, resume, manager):
        """Rank 0 resolves ``fit(resume=...)`` to one checkpoint file for every rank.

        Returns the path, or None when ``resume=True`` finds no checkpoint (a fresh
        start). An error found on rank 0 is raised on every rank, so that no rank is
        left waiting for the others.
        """
        from .checkpoint import latest_checkpoint

        answer = None
        if self.is_main:
            try:
                directory = manager.directory if manager is not None else None
                answer = {"path": _resolve(resume, directory, latest_checkpoint)}
            except (OSError, ValueError, ChainruleError) as e:
                answer = {"error": str(e), "kind": type(e).__name__}
        answer = dist.broadcast_json(answer)
        if "error" in answer:
            kind = {"ValueError": ValueError}.get(answer["kind"], ChainruleError)
            raise kind(answer["error"])
        return answer["path"]

    def start(self, model, optimizer, resumed):
        if not resumed:
            dist.broadcast_parameters(model)
        params = [p for group in optimizer.param_groups for p in group["params"]]
        self.reducer = dist.GradientAllreduce(params, n_extras=4)

    def reduce_step(self, weight, loss, n, correct, interrupted):
        """Average the gradients; returns the global (loss, weight, n, correct, interrupted)."""
        local = loss * weight if weight > 0 else 0.0
        total, (loss_sum, n, correct, flag) = self.reducer.reduce(
            weight, [local, n, correct, 1.0 if interrupted else 0.0])
        if not math.isfinite(loss_sum):
            value = loss_sum
        else:
            value = loss_sum / total if total > 0 else 0.0
        return value, total, int(round(n)), int(round(correct)), flag > 0

    def epoch_logs(self, logs):
        """Rank 0's epoch logs (and its validation results) on every rank."""
        return dist.broadcast_json({k: v.item() if hasattr(v, "item") else v
                                    for k, v in logs.items()})

    def barrier(self):
        dist.barrier()

    def any(self, flag):
        """True on every rank if ``flag`` is true on any."""
        return dist.all_reduce(1.0 if flag else 0.0, op="max") > 0


def _resolve(resume, checkpoint_dir, latest_checkpoint):
    if resume is True:
        if checkpoint_dir is None:
            raise ValueError("fit: resume=True needs checkpoint=CheckpointManager(...)")
        return latest_checkpoint(checkpoint_dir)[0]
    path = os.fspath(resume)
    if os.path.isdir(path):
        found = latest_checkpoint(path)[0]
        if found is None:
            raise ChainruleError(f"{path}: no valid checkpoint to resume from")
        return found
    if not os.path.exists(path):
        raise ChainruleError(f"{path}: no such checkpoint file")
    return path
